// Package sim is an in-process stand-in for the AdEventsX conversions API: it answers
// POST /v1/conversions as the real API would (see CONTRACT.md, "What AdEventsX receives"),
// records what it accepted so tests can assert "delivered once", and injects failures on
// demand. Local runs, end-to-end and fault tests, and benchmarks talk to it over plain HTTP,
// so the JSON shapes below are its contract.
//
// # The API
//
//	POST /v1/conversions
//	  headers X-Api-Key (must equal the configured key), Content-Type: application/json,
//	  Idempotency-Key (must equal the body's id); body, decoded strictly (unknown fields,
//	  missing or null fields, wrong JSON types and trailing data are rejected):
//	  {"id":"..","user":"..","name":"..","ts":1700000000,"value_cents":1999,"campaign":"..","source":"internal_martech"}
//	  id, user, name, campaign non-empty; ts > 0; value_cents an integer >= 0.
//	  202 {"status":"accepted","received_at":"<RFC 3339, nanoseconds, UTC>"}
//	  400 {"error":"invalid_payload","detail":"..."}   401 {"error":"unauthorized"}
//	  413 {"error":"payload_too_large","detail":".."} (bodies over 64 KiB)
//	  415 {"error":"unsupported_media_type","detail":".."}
//	  Injected failures: 429 {"error":"rate_limited"} with Retry-After, 500 {"error":"internal_error"},
//	  503 {"error":"unavailable"}, 504 {"error":"timeout"}; other codes {"error":"<status text>"}.
//	  An injected answer carries X-Sim-Injected: down | fail_next | fail_429 | ... | timeout.
//
// # The simulator's own endpoints
//
//	GET  /_sim/received[?event_id=X][&summary=1]
//	  {"count":<distinct ids>,"total":<accepted requests>,"duplicates":<total-count>,
//	   "events":[{"id":"..","times":N,"first_received_at_unix_nano":N,"idempotency_key":"..",
//	              "body":{<the first accepted conversion>}}]}
//	  Events are sorted by first receipt. With event_id the envelope describes that one event
//	  (count 1, total = times) or is a 404 {"error":"not_found",..}; summary=1 omits "events".
//	  "untracked":N appears only when more distinct ids arrived than SIM_MAX_EVENTS keeps.
//	GET  /_sim/stats    {"requests":N,"in_flight":N,"responses":{"202":N,"503":N,..}}
//	  requests and responses count POST /v1/conversions only; "499" counts requests whose
//	  client went away before the answer (nginx's convention).
//	POST /_sim/reset    clears what was received and the stats, not the failure settings;
//	  200 {"status":"reset"}.
//	GET  /_sim/control  the failure settings:
//	  {"fail_429":0,"fail_500":0,"fail_503":0,"fail_400":0,"fail_401":0,"timeout":0,
//	   "retry_after_seconds":1,"timeout_hold_ms":60000,"latency_ms":0,"latency_jitter_ms":0,
//	   "down":false,"down_status":503,"fail_next":{"count":0,"status":503}}
//	POST /_sim/control  any subset of those fields; 200 with the new settings, or 400
//	  {"error":"invalid_control","detail":".."} and nothing changed. fail_next replaces the
//	  pending count ("status" defaults to 503; 0 or "timeout" holds the request).
//	GET  /healthz       200 {"status":"ok"}
//	GET  /metrics       Prometheus: adeventsx_sim_requests_total, adeventsx_sim_responses_total{code},
//	  adeventsx_sim_in_flight_requests, adeventsx_sim_accepted_total, adeventsx_sim_received_events.
//
// # Order of decisions for POST /v1/conversions
//
// A bad key is always 401. Then, without looking at the body: down answers down_status;
// fail_next answers its status while its count lasts; then one random draw against the
// shares (fail_429, fail_500, fail_503, fail_400, fail_401, timeout, in that order, adding up
// to at most 1). Then the body is checked, and only a valid request is accepted and recorded:
// injected failures never record the event. Every answer but a hold waits latency_ms plus a
// uniform 0..latency_jitter_ms first. "timeout" holds the request without answering until the client
// gives up or timeout_hold_ms passes (then 504). Handler.Stop, called at shutdown, answers
// every waiting request 503 at once. An event counts as received once the
// simulator commits to its 202, so a client that gives up during the latency has not
// delivered it.
package sim
