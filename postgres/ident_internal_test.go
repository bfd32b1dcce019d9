package postgres

import (
	"regexp"
	"testing"
)

// TestIsIdent checks the identifier check against the regular expression
// it replaces, on edge cases and every string of up to two bytes of an
// alphabet of boundary characters.
func TestIsIdent(t *testing.T) {
	re := regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
	cases := []string{"", "a", "_", "0", "a0", "settle_test", "Settle", "a-b", "a b", "é",
		"a234567890123456789012345678901234567890123456789012345678901",
		"a2345678901234567890123456789012345678901234567890123456789012",
		"a23456789012345678901234567890123456789012345678901234567890123",
		"a\n"}
	alpha := []byte("a_z09AZ`{/:-\x00\xff")
	for _, x := range alpha {
		cases = append(cases, string(x))
		for _, y := range alpha {
			cases = append(cases, string([]byte{x, y}))
		}
	}
	for _, c := range cases {
		if got, want := isIdent(c), re.MatchString(c); got != want {
			t.Errorf("isIdent(%q) = %v, the regexp says %v", c, got, want)
		}
	}
}
