package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/writeback"
)

// Config is settle's configuration, from the config file, the environment
// (SETTLE_*) and flags, in increasing precedence.
type Config struct {
	// Root is the workspace root (default: the current directory).
	Root string `json:"root"`
	// Ledger is the ledger file (default
	// <root>/memory/events/callback_4tuple_index.jsonl).
	Ledger string `json:"ledger"`
	// CollectorKeys are the independent collector keys.
	CollectorKeys []string `json:"collector_keys"`
	// DefaultChatID is the chat id of a mirror record whose verdict names
	// none.
	DefaultChatID string `json:"default_chat_id"`
	// Store is "file:" (default) or a postgres:// URL.
	Store string `json:"store"`
	// Events is the event log file of the file store (default
	// <root>/memory/events/settle_events.jsonl); every settle writer
	// appends its writes' events to it.
	Events string `json:"events"`
	// LockTimeout bounds a wait for a file lock another process holds
	// (a Go duration such as "30s"; "" = 30s, negative = no limit).
	LockTimeout string `json:"lock_timeout"`
	// Server is the configuration of "settle serve".
	Server ServerConfig `json:"server"`

	// JSON selects machine-readable output (flag only).
	JSON bool `json:"-"`
	// ConfigFile is the file the configuration was read from, if any.
	ConfigFile string `json:"-"`
	// Logger receives the stores' warnings (repairs, rebuilds, failures).
	Logger *slog.Logger `json:"-"`
}

// ServerConfig is the "server" section of the config file.
type ServerConfig struct {
	Listen string `json:"listen"`
	// EventsMaxAge and EventsMaxCount are the event log's retention (see
	// the README): events older than the age ("720h") or beyond the
	// newest count are removed every EventsCompactEvery ("10m").
	EventsMaxAge       string `json:"events_max_age,omitempty"`
	EventsMaxCount     int64  `json:"events_max_count,omitempty"`
	EventsCompactEvery string `json:"events_compact_every,omitempty"`
	// EventsSegmentEvents is how many events the file event log's active
	// file holds before they are sealed into a segment (0: the default,
	// 8192; negative: never).
	EventsSegmentEvents int              `json:"events_segment_events,omitempty"`
	TLSCert             string           `json:"tls_cert"`
	TLSKey              string           `json:"tls_key"`
	Tokens              []TokenPrincipal `json:"tokens"`
}

// TokenPrincipal maps a bearer token (stored as its sha256 hex) to a
// principal and its role.
type TokenPrincipal struct {
	// TokenSHA256 is the hex sha256 of the bearer token.
	TokenSHA256 string `json:"token_sha256"`
	Principal   string `json:"principal"`
	// Role: collector, dispatcher, runner, operator or reader.
	Role string `json:"role"`
	// CollectorKey is the collector's own key (role collector).
	CollectorKey string `json:"collector_key,omitempty"`
}

// WritebackConfig returns the domain configuration.
func (c *Config) WritebackConfig() writeback.Config {
	return writeback.Config{CollectorKeys: c.CollectorKeys, DefaultChatID: c.DefaultChatID}
}

// LockWait returns the parsed LockTimeout (checked by Validate).
func (c *Config) LockWait() time.Duration {
	d, _ := time.ParseDuration(c.LockTimeout)
	return d
}

// LedgerPath returns the ledger file path.
func (c *Config) LedgerPath() string {
	if c.Ledger != "" {
		return c.Ledger
	}
	return filepath.Join(c.Root, filepath.FromSlash(writeback.DefaultLedgerRelPath))
}

// globalFlags are the flags every command accepts.
type globalFlags struct {
	root, ledger, keys, chat, store, config, lockTimeout string
	json                                                 bool
}

const globalFlagsHelp = `  --root DIR             workspace root (SETTLE_ROOT; default: current directory)
  --ledger PATH          ledger file (SETTLE_LEDGER; default <root>/memory/events/callback_4tuple_index.jsonl)
  --collector-keys K1,K2 independent collector keys (SETTLE_COLLECTOR_KEYS)
  --default-chat-id ID   chat id for a mirror record whose verdict names none (SETTLE_DEFAULT_CHAT_ID)
  --store URL            "file:" (default) or postgres://... (SETTLE_STORE)
  --config FILE          JSON config file (SETTLE_CONFIG)
  --lock-timeout D       give up waiting for a lock another process holds after D (SETTLE_LOCK_TIMEOUT; default 30s)
  --json                 machine-readable output: one JSON document per line
`

var valueFlags = map[string]bool{"root": true, "ledger": true, "collector-keys": true, "default-chat-id": true, "store": true, "config": true, "lock-timeout": true}

// takesValue reports whether a global flag argument consumes the next one.
func takesValue(arg string) bool {
	name := strings.TrimLeft(arg, "-")
	if strings.Contains(name, "=") {
		return false
	}
	return valueFlags[name]
}

func (g *globalFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&g.root, "root", "", "workspace root (SETTLE_ROOT)")
	fs.StringVar(&g.ledger, "ledger", "", "ledger file (SETTLE_LEDGER)")
	fs.StringVar(&g.keys, "collector-keys", "", "independent collector keys, comma separated (SETTLE_COLLECTOR_KEYS)")
	fs.StringVar(&g.chat, "default-chat-id", "", "default chat id (SETTLE_DEFAULT_CHAT_ID)")
	fs.StringVar(&g.store, "store", "", `"file:" or postgres://... (SETTLE_STORE)`)
	fs.StringVar(&g.config, "config", "", "JSON config file (SETTLE_CONFIG)")
	fs.StringVar(&g.lockTimeout, "lock-timeout", "", "lock wait limit, e.g. 30s (SETTLE_LOCK_TIMEOUT)")
	fs.BoolVar(&g.json, "json", false, "machine-readable JSON output")
}

func splitKeys(s string) []string {
	var out []string
	for _, k := range strings.Split(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}

// resolve builds the configuration: config file < environment < flags.
func (m *Main) resolve(fs *flag.FlagSet, g *globalFlags) (*Config, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg := &Config{}
	path := m.Getenv("SETTLE_CONFIG")
	if set["config"] {
		path = g.config
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, settle.Wrap(settle.InvalidInput, err, "read config file")
		}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(cfg); err != nil {
			return nil, settle.Wrap(settle.InvalidInput, err, "config file %s", path)
		}
		cfg.ConfigFile = path
		// Relative paths in the file are relative to the file.
		base := filepath.Dir(path)
		for _, p := range []*string{&cfg.Root, &cfg.Ledger, &cfg.Events, &cfg.Server.TLSCert, &cfg.Server.TLSKey} {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(base, *p)
			}
		}
	}
	env := func(name string, dst *string) {
		if v := m.Getenv(name); v != "" {
			*dst = v
		}
	}
	env("SETTLE_ROOT", &cfg.Root)
	env("SETTLE_LEDGER", &cfg.Ledger)
	env("SETTLE_DEFAULT_CHAT_ID", &cfg.DefaultChatID)
	env("SETTLE_STORE", &cfg.Store)
	env("SETTLE_EVENTS", &cfg.Events)
	env("SETTLE_LOCK_TIMEOUT", &cfg.LockTimeout)
	if v := m.Getenv("SETTLE_COLLECTOR_KEYS"); v != "" {
		cfg.CollectorKeys = splitKeys(v)
	}
	if set["root"] {
		cfg.Root = g.root
	}
	if set["ledger"] {
		cfg.Ledger = g.ledger
	}
	if set["default-chat-id"] {
		cfg.DefaultChatID = g.chat
	}
	if set["store"] {
		cfg.Store = g.store
	}
	if set["lock-timeout"] {
		cfg.LockTimeout = g.lockTimeout
	}
	if set["collector-keys"] {
		cfg.CollectorKeys = splitKeys(g.keys)
	}
	cfg.JSON = g.json
	level := slog.LevelWarn
	if m.Getenv("SETTLE_LOG_LEVEL") != "" {
		_ = level.UnmarshalText([]byte(m.Getenv("SETTLE_LOG_LEVEL")))
	}
	cfg.Logger = slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: level}))
	if cfg.Root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		cfg.Root = wd
	}
	if cfg.Store == "" {
		cfg.Store = "file:"
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if isPostgres(cfg.Store) {
		// Connecting and every query may wait on the network.
		m.armSignals()
	}
	return cfg, nil
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if !strings.HasPrefix(c.Store, "file:") && !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://") {
		return settle.Errorf(settle.InvalidInput, "store %q: want file: or postgres://...", c.Store)
	}
	if c.LockTimeout != "" {
		if _, err := time.ParseDuration(c.LockTimeout); err != nil {
			return settle.Errorf(settle.InvalidInput, "lock timeout %q: want a duration such as 30s", c.LockTimeout)
		}
	}
	for _, t := range c.Server.Tokens {
		switch t.Role {
		case "collector", "dispatcher", "runner", "operator", "reader":
		default:
			return settle.Errorf(settle.InvalidInput, "token for %q: unknown role %q", t.Principal, t.Role)
		}
		if len(t.TokenSHA256) != 64 {
			return settle.Errorf(settle.InvalidInput, "token for %q: token_sha256 must be 64 hex digits", t.Principal)
		}
		if t.Role == "collector" && t.CollectorKey == "" {
			return settle.Errorf(settle.InvalidInput, "collector token for %q has no collector_key", t.Principal)
		}
	}
	return nil
}

// newFlagSet returns a command's flag set with the global flags and a
// usage text.
func (m *Main) newFlagSet(name, synopsis, about string, g *globalFlags) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	g.register(fs)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: settle %s\n\n%s\n", synopsis, about)
		header := "\nFlags:\n"
		fs.VisitAll(func(f *flag.Flag) {
			if valueFlags[f.Name] || f.Name == "json" {
				return
			}
			fmt.Fprint(w, header)
			header = ""
			printFlag(w, f)
		})
		fmt.Fprintf(w, "\nGlobal flags:\n%s", globalFlagsHelp)
		if ex := examples[name]; ex != "" {
			fmt.Fprintf(w, "\nExample:\n  %s\n", ex)
		}
	}
	return fs
}

func printFlag(w interface{ Write([]byte) (int, error) }, f *flag.Flag) {
	name, usage := flag.UnquoteUsage(f)
	s := "  --" + f.Name
	if name != "" {
		s += " " + name
	}
	s = fmt.Sprintf("%-24s %s", s, usage)
	if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" {
		s += fmt.Sprintf(" (default %s)", f.DefValue)
	}
	fmt.Fprintln(w, s)
}

// parse parses a command's flags; --help prints the usage to stdout and
// returns errHelp.
func (m *Main) parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(m.Stderr)
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "--help" || a == "-help" {
			fs.SetOutput(m.Stdout)
			fs.Usage()
			return errHelp
		}
	}
	if err := fs.Parse(interleave(fs, args)); err != nil {
		return &exitError{code: 2, err: err, printed: true}
	}
	return nil
}

// errHelp ends a command after --help (exit 0).
var errHelp = &exitError{code: 0, printed: true}

// interleave moves flags after positional arguments to the front, so
// "settle writeback a.json --batch B" works as users expect.
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if f := fs.Lookup(name); f != nil {
				if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
					continue
				}
				if i+1 < len(args) {
					flags = append(flags, args[i+1])
					i++
				}
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, append([]string{"--"}, pos...)...)
}
