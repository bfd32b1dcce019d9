package scene

import (
	"strings"
	"time"
)

// MarkStale marks the takes that have been running since before
// now-olderThan as stale (the runner's recover_stale_takes): a take whose
// status is "running" and whose started_at (created_at when started_at is
// null) is strictly older than now-olderThan gets status "stale" and, when
// its error is null, the error "stale: running since <ts>, older than
// <age>". A take whose timestamp is missing or unparseable is left alone.
// Timestamps are Python isoformat strings (see ParsePyISO); one without an
// offset is UTC. It returns how many takes changed.
func MarkStale(sc *Scene, olderThan time.Duration, now time.Time) int {
	cutoff := now.Add(-olderThan)
	n := 0
	for _, b := range sc.Beats {
		for _, t := range b.Takes {
			if t.Status != TakeRunning {
				continue
			}
			ts := t.StartedAt
			if ts == nil {
				ts = t.CreatedAt
			}
			if ts == nil {
				continue
			}
			at, ok := ParsePyISO(*ts)
			if !ok || !at.Before(cutoff) {
				continue
			}
			t.Status = TakeStale
			if t.Error == nil {
				msg := "stale: running since " + *ts + ", older than " + olderThan.String()
				t.Error = &msg
			}
			n++
		}
	}
	return n
}

// ParsePyISO parses a timestamp as Python 3.11's datetime.fromisoformat
// reads the forms isoformat() writes and their common variants:
// "YYYY-MM-DD", then optionally 'T' or ' ' and "HH", "HH:MM", "HH:MM:SS" or
// "HH:MM:SS.f" (1 to 9 fraction digits, beyond microseconds truncated),
// then optionally "Z" or an offset "±HH:MM[:SS[.ffffff]]" or "±HHMM". A
// timestamp without an offset is taken as UTC.
func ParsePyISO(s string) (time.Time, bool) {
	p := isoParser{s: s}
	year, ok1 := p.digits(4)
	ok2 := p.lit('-')
	month, ok3 := p.digits(2)
	ok4 := p.lit('-')
	day, ok5 := p.digits(2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5) || year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return time.Time{}, false
	}
	var hour, minute, sec, nsec int
	loc := time.UTC
	if p.more() {
		if !p.lit('T') && !p.lit(' ') {
			return time.Time{}, false
		}
		var ok bool
		if hour, minute, sec, nsec, ok = p.clock(true); !ok || hour > 23 {
			return time.Time{}, false
		}
		if p.more() {
			off, ok := p.offset()
			if !ok || p.more() {
				return time.Time{}, false
			}
			loc = time.FixedZone("", off)
		}
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc), true
}

type isoParser struct {
	s string
	i int
}

func (p *isoParser) more() bool { return p.i < len(p.s) }

func (p *isoParser) lit(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *isoParser) digits(n int) (int, bool) {
	if p.i+n > len(p.s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(p.s[p.i : p.i+n]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	p.i += n
	return v, true
}

// clock parses HH[:MM[:SS[.f+]]]; fraction digits beyond 9 are refused.
func (p *isoParser) clock(allowFraction bool) (h, m, s, ns int, ok bool) {
	if h, ok = p.digits(2); !ok {
		return
	}
	if !p.lit(':') {
		return h, 0, 0, 0, true
	}
	if m, ok = p.digits(2); !ok || m > 59 {
		return 0, 0, 0, 0, false
	}
	if !p.lit(':') {
		return h, m, 0, 0, true
	}
	if s, ok = p.digits(2); !ok || s > 59 {
		return 0, 0, 0, 0, false
	}
	if !allowFraction || (!p.lit('.') && !p.lit(',')) {
		return h, m, s, 0, true
	}
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	frac := p.s[start:p.i]
	if frac == "" || len(frac) > 9 {
		return 0, 0, 0, 0, false
	}
	frac = (frac + "000000000")[:9]
	for _, c := range []byte(frac[:6]) { // microseconds, as Python keeps
		ns = ns*10 + int(c-'0')
	}
	return h, m, s, ns * 1000, true
}

// offset parses Z or ±HH[:MM[:SS[.ffffff]]] or ±HHMM into seconds east.
func (p *isoParser) offset() (int, bool) {
	if p.lit('Z') || p.lit('z') {
		return 0, true
	}
	sign := 1
	switch {
	case p.lit('+'):
	case p.lit('-'):
		sign = -1
	default:
		return 0, false
	}
	rest := p.s[p.i:]
	if len(rest) == 4 && !strings.Contains(rest, ":") {
		h, ok1 := p.digits(2)
		m, ok2 := p.digits(2)
		if !ok1 || !ok2 || h > 23 || m > 59 {
			return 0, false
		}
		return sign * (h*3600 + m*60), true
	}
	h, m, s, _, ok := p.clock(true)
	if !ok || h > 23 {
		return 0, false
	}
	return sign * (h*3600 + m*60 + s), true
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
