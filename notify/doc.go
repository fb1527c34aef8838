// Package notify tells people about rollouts that went wrong, where they already look: it
// follows the views and posts one JSON message to a webhook for each rollout that missed its
// progress deadline or was rolled back, and (given an audit, the decision audit of khist replay
// compare run on each rollout as it ends) for each rollout whose recorded controller did not do
// what its algorithm does; Slack-compatible (a "text" field, which Slack's and
// Mattermost's incoming webhooks show; the rollout itself beside it, for other receivers).
//
// Each rollout is announced at most once, across restarts: what was sent is kept in a state
// file (beside the views), and the first run starts from the views' position then, so that a
// history recorded or imported earlier is not announced. A delivery that fails is retried with
// a growing delay, for about five minutes, then given up (and counted); a receiver that
// answers 4xx (other than 429) is not retried.
package notify
