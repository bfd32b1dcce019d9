// Package event defines settle's durable event log: the events the server
// streams as Server-Sent Events from /v1/events, with increasing ids that a
// client resumes from with Last-Event-ID, also after a server restart. The
// file store and the PostgreSQL store implement Log.
package event
