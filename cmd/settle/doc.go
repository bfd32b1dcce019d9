// Command settle is the command-line tool of settle: the durable-success
// write-back ledger, batch settlement and the versioned scene store.
//
// Usage: settle [global flags] <command> [flags] [args]
//
// Run "settle help" for the commands and "settle <command> --help" for a
// command's flags.
package main
