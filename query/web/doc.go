// Package web serves khist's history over HTTP: an API under /api/v1 that answers every read
// command (rollouts, history, steps, get, diff, state, timeline, replay compare / what-if /
// all) with the JSON of its -o json, and server-rendered pages over the same answers.
//
// Server is the entry point: Run listens until its context ends, then shuts down gracefully.
// Every request opens the views read-only for as long as it takes (as the read commands do),
// so that a khist collect or khist project folding into the same file keeps running and each
// answer includes what they folded; Options.OpenLog, when set, also folds the log's tail the
// views lack every Options.Refresh.
//
// The pages (rollouts, workload, object, search, timeline) call the API's answers and render
// them with html/template and one embedded stylesheet and script; every state is in the URL.
// Under token authentication a browser logs in once (/login) and its token is kept in an
// HttpOnly, SameSite=Strict cookie.
//
// Guarantees: every answer is computed by package query, the same code as the CLI's; an
// argument error is a 400 with a one-line JSON error, the CLI's message. Without an
// Authenticator the server listens on loopback only; on any other address it requires TLS and
// an Authenticator, and with an Authorizer each namespace's history is shown only to the users
// it allows (lists are filtered, direct access is 403).
package web
