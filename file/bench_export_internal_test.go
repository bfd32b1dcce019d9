package file

// BenchIndexFormat names the index's on-disk format, so that benchmark
// ledgers cached across runs are kept apart per format.
const BenchIndexFormat = idxMagic

// BenchMergeRows is how many records the index log holds before a merge.
func BenchMergeRows() int { return mergeRows }
