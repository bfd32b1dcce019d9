package writeback

// Presize makes an empty view's maps ready for about records ledger
// records, so that a store reading a large ledger into it does not rehash
// its maps again and again (a hint: a wrong guess costs memory or time,
// never correctness). It does nothing to a view that holds records. The
// file store calls it before its initial scan of the ledger.
func (m *MemView) Presize(records int) {
	if m.byWID != nil && (len(m.byWID) > 0 || len(m.byIdentity) > 0 || len(m.registry) > 0 ||
		len(m.latest) > 0 || len(m.conflicts) > 0) {
		return
	}
	if records <= 0 {
		m.Reset()
		return
	}
	// A ledger written by settle holds a durable record and its registry
	// mirror per write-back.
	m.reset(records/2 + 1)
}
