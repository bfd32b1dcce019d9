package postgres

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	settle "github.com/settlehq/settle"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migration is one embedded schema migration: migrations/NNNN_name.sql.
type Migration struct {
	Version  int
	Name     string
	SQL      string
	Checksum string // sha256 hex of SQL
}

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, settle.Wrap(settle.Internal, err, "read embedded migrations")
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, rest, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, settle.Errorf(settle.Internal, "embedded migration %q is not NNNN_name.sql", name)
		}
		data, err := migrationFS.ReadFile(path.Join("migrations", name))
		if err != nil {
			return nil, settle.Wrap(settle.Internal, err, "read embedded migration %s", name)
		}
		sum := sha256.Sum256(data)
		out = append(out, Migration{Version: v, Name: rest, SQL: string(data), Checksum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := range out {
		if out[i].Version != i+1 {
			return nil, settle.Errorf(settle.Internal, "embedded migrations are not numbered 1..n (found %d at position %d)", out[i].Version, i+1)
		}
	}
	return out, nil
}

// migrate creates the schema if needed and applies the migrations that
// are not recorded in schema_migrations, each in its own transaction,
// while holding a session-level advisory lock on the schema: of several
// servers starting at once, one migrates and the others wait, then find
// nothing to do. A recorded migration whose checksum differs from the
// embedded one, or a recorded version this binary does not know, stops
// the open.
func (s *Store) migrate(ctx context.Context) error {
	migs, err := Migrations()
	if err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.fail(err, "connect to postgres")
	}
	defer conn.Release()
	key := s.lockKey("migrate")
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return s.fail(err, "lock schema for migration")
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key); err != nil {
			// The session still holds the lock: drop the connection.
			s.log.Warn("release migration lock failed; closing the connection", "err", err)
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	if s.schema != "" {
		if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{s.schema}.Sanitize()); err != nil {
			return s.fail(err, "create schema %s", s.schema)
		}
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    int         PRIMARY KEY,
		name       text        NOT NULL,
		checksum   text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return s.fail(err, "create schema_migrations")
	}
	applied := map[int]string{}
	rows, err := conn.Query(ctx, "SELECT version, checksum FROM schema_migrations")
	if err != nil {
		return s.fail(err, "read schema_migrations")
	}
	for rows.Next() {
		var v int
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			rows.Close()
			return s.fail(err, "read schema_migrations")
		}
		applied[v] = sum
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s.fail(err, "read schema_migrations")
	}
	for v := range applied {
		if v > len(migs) {
			return settle.Errorf(settle.Unavailable,
				"schema %s is at migration %d, newer than this binary's %d: upgrade settle", s.schema, v, len(migs))
		}
	}
	for _, m := range migs {
		if sum, ok := applied[m.Version]; ok {
			if sum != m.Checksum {
				return settle.Errorf(settle.Corrupt,
					"migration %d (%s) recorded with checksum %s, this binary has %s", m.Version, m.Name, sum, m.Checksum)
			}
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
				m.Version, m.Name, m.Checksum)
			return err
		})
		if err != nil {
			return s.fail(err, "apply migration %d (%s)", m.Version, m.Name)
		}
		s.log.Info("schema migration applied", "schema", s.schema, "version", m.Version, "name", m.Name)
	}
	return nil
}

// SchemaVersion returns the highest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return queryValue[int](ctx, s, "SELECT coalesce(max(version), 0) FROM schema_migrations", "read schema version")
}

func (m Migration) String() string { return fmt.Sprintf("%04d_%s", m.Version, m.Name) }
