package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Limits of the settings. Latency and hold are bounded because the server has no write
// timeout (a held request must outlive any fixed one); the bounds keep every request finite.
const (
	MaxLatency    = 5 * time.Minute
	MaxHold       = 10 * time.Minute
	MaxRetryAfter = 86400

	// ShareSlack absorbs float rounding in a sum of shares: 0.1+0.2+0.7 is 1.0000000000000002.
	ShareSlack = 1e-9
)

// Settings are the failure-injection knobs that POST /_sim/control changes at run time.
type Settings struct {
	// Shares (0..1, adding up to at most 1) of requests answered with an injected failure.
	Fail429, Fail500, Fail503, Fail400, Fail401 float64
	Timeout                                     float64 // share held without an answer

	RetryAfter    int           // seconds, sent as Retry-After with an injected 429
	TimeoutHold   time.Duration // longest hold of a "timeout" before answering 504
	Latency       time.Duration // added before every answer
	LatencyJitter time.Duration // uniform extra 0..LatencyJitter
	Down          bool          // answer every request with DownStatus
	DownStatus    int           // 400..599, or 0 to hold like a timeout
}

// DefaultSettings inject nothing.
func DefaultSettings() Settings {
	return Settings{RetryAfter: 1, TimeoutHold: 60 * time.Second, DownStatus: 503}
}

// shareClass is one kind of share-based failure; status 0 means hold.
type shareClass struct {
	name   string
	status int
	share  float64
}

func (s Settings) classes() [6]shareClass {
	return [6]shareClass{
		{"fail_429", 429, s.Fail429},
		{"fail_500", 500, s.Fail500},
		{"fail_503", 503, s.Fail503},
		{"fail_400", 400, s.Fail400},
		{"fail_401", 401, s.Fail401},
		{"timeout", statusHold, s.Timeout},
	}
}

// Validate names the control field of every problem.
func (s Settings) Validate() error {
	var errs []error
	var sum float64
	for _, c := range s.classes() {
		if !(c.share >= 0 && c.share <= 1) { // also catches NaN
			errs = append(errs, fmt.Errorf("%s: %g is outside 0..1", c.name, c.share))
		}
		sum += c.share
	}
	if sum > 1+ShareSlack {
		errs = append(errs, fmt.Errorf("fail_429+fail_500+fail_503+fail_400+fail_401+timeout: shares add up to %g, more than 1", sum))
	}
	if s.RetryAfter < 0 || s.RetryAfter > MaxRetryAfter {
		errs = append(errs, fmt.Errorf("retry_after_seconds: %d is outside 0..%d", s.RetryAfter, MaxRetryAfter))
	}
	if s.TimeoutHold <= 0 || s.TimeoutHold > MaxHold {
		errs = append(errs, fmt.Errorf("timeout_hold_ms: %s is outside 1ms..%s", s.TimeoutHold, MaxHold))
	}
	if s.Latency < 0 || s.Latency > MaxLatency {
		errs = append(errs, fmt.Errorf("latency_ms: %s is outside 0..%s", s.Latency, MaxLatency))
	}
	if s.LatencyJitter < 0 || s.LatencyJitter > MaxLatency {
		errs = append(errs, fmt.Errorf("latency_jitter_ms: %s is outside 0..%s", s.LatencyJitter, MaxLatency))
	}
	if !ValidFailStatus(s.DownStatus) {
		errs = append(errs, fmt.Errorf("down_status: %d is not 400..599 or 0 (hold)", s.DownStatus))
	}
	return joinLine(errs)
}

// joinLine joins errors in one line, nil for none.
func joinLine(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

// ValidFailStatus accepts an HTTP error status, or 0 for "hold like a timeout".
func ValidFailStatus(s int) bool { return s == statusHold || (s >= 400 && s <= 599) }

// active is Settings plus what the hot path derives from them, swapped in as a whole so that
// requests read it with one atomic load.
type active struct {
	Settings
	cum        [6]float64 // cumulative shares, in classes() order
	injections [6]injection
	shareSum   float64
	retryAfter []string
}

type injection struct {
	status int
	tag    []string // X-Sim-Injected value
}

func newActive(s Settings) *active {
	a := &active{Settings: s, retryAfter: []string{strconv.Itoa(s.RetryAfter)}}
	for i, c := range s.classes() {
		a.shareSum += c.share
		a.cum[i] = a.shareSum
		a.injections[i] = injection{status: c.status, tag: []string{c.name}}
	}
	return a
}

// pick maps a uniform draw in [0,1) to a share-based failure, if any.
func (a *active) pick(u float64) (injection, bool) {
	for i, c := range a.cum {
		if u < c {
			return a.injections[i], true
		}
	}
	return injection{}, false
}

// failNext answers the next remaining requests with status; replaced as a whole by control.
type failNext struct {
	status    int
	remaining atomic.Int64
}

// take consumes one pending failure, if any.
func (f *failNext) take() bool {
	for {
		n := f.remaining.Load()
		if n <= 0 {
			return false
		}
		if f.remaining.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// controlView is the JSON of GET /_sim/control.
type controlView struct {
	Fail429           float64      `json:"fail_429"`
	Fail500           float64      `json:"fail_500"`
	Fail503           float64      `json:"fail_503"`
	Fail400           float64      `json:"fail_400"`
	Fail401           float64      `json:"fail_401"`
	Timeout           float64      `json:"timeout"`
	RetryAfterSeconds int          `json:"retry_after_seconds"`
	TimeoutHoldMS     int64        `json:"timeout_hold_ms"`
	LatencyMS         int64        `json:"latency_ms"`
	LatencyJitterMS   int64        `json:"latency_jitter_ms"`
	Down              bool         `json:"down"`
	DownStatus        int          `json:"down_status"`
	FailNext          failNextView `json:"fail_next"`
}

type failNextView struct {
	Count  int64 `json:"count"`
	Status int   `json:"status"`
}

func newControlView(s Settings, fn *failNext) controlView {
	return controlView{
		Fail429:           s.Fail429,
		Fail500:           s.Fail500,
		Fail503:           s.Fail503,
		Fail400:           s.Fail400,
		Fail401:           s.Fail401,
		Timeout:           s.Timeout,
		RetryAfterSeconds: s.RetryAfter,
		TimeoutHoldMS:     s.TimeoutHold.Milliseconds(),
		LatencyMS:         s.Latency.Milliseconds(),
		LatencyJitterMS:   s.LatencyJitter.Milliseconds(),
		Down:              s.Down,
		DownStatus:        s.DownStatus,
		FailNext:          failNextView{Count: max(fn.remaining.Load(), 0), Status: fn.status},
	}
}

// controlPatch is the JSON of POST /_sim/control: every field optional.
type controlPatch struct {
	Fail429           *float64       `json:"fail_429"`
	Fail500           *float64       `json:"fail_500"`
	Fail503           *float64       `json:"fail_503"`
	Fail400           *float64       `json:"fail_400"`
	Fail401           *float64       `json:"fail_401"`
	Timeout           *float64       `json:"timeout"`
	RetryAfterSeconds *int           `json:"retry_after_seconds"`
	TimeoutHoldMS     *int64         `json:"timeout_hold_ms"`
	LatencyMS         *int64         `json:"latency_ms"`
	LatencyJitterMS   *int64         `json:"latency_jitter_ms"`
	Down              *bool          `json:"down"`
	DownStatus        *failStatus    `json:"down_status"`
	FailNext          *failNextPatch `json:"fail_next"`
}

type failNextPatch struct {
	Count  *int64      `json:"count"`
	Status *failStatus `json:"status"`
}

// failStatus is an HTTP status code or the string "timeout" (0: hold).
type failStatus int

func (f *failStatus) UnmarshalJSON(b []byte) error {
	if string(b) == `"timeout"` {
		*f = statusHold
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf(`status %s is not an HTTP status code or "timeout"`, b)
	}
	*f = failStatus(n)
	return nil
}

// apply returns s changed by the patch, and the fail_next to install (nil: keep the current).
func (p controlPatch) apply(s Settings) (Settings, *failNext, error) {
	var errs []error
	setShare := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	setShare(&s.Fail429, p.Fail429)
	setShare(&s.Fail500, p.Fail500)
	setShare(&s.Fail503, p.Fail503)
	setShare(&s.Fail400, p.Fail400)
	setShare(&s.Fail401, p.Fail401)
	setShare(&s.Timeout, p.Timeout)
	if p.RetryAfterSeconds != nil {
		s.RetryAfter = *p.RetryAfterSeconds
	}
	setMS := func(name string, dst *time.Duration, v *int64) {
		if v == nil {
			return
		}
		if *v < 0 || *v > math.MaxInt64/int64(time.Millisecond) {
			errs = append(errs, fmt.Errorf("%s: %d is out of range", name, *v))
			return
		}
		*dst = time.Duration(*v) * time.Millisecond
	}
	setMS("timeout_hold_ms", &s.TimeoutHold, p.TimeoutHoldMS)
	setMS("latency_ms", &s.Latency, p.LatencyMS)
	setMS("latency_jitter_ms", &s.LatencyJitter, p.LatencyJitterMS)
	if p.Down != nil {
		s.Down = *p.Down
	}
	if p.DownStatus != nil {
		s.DownStatus = int(*p.DownStatus)
	}
	var fn *failNext
	if p.FailNext != nil {
		fn = &failNext{status: 503}
		switch {
		case p.FailNext.Count == nil:
			errs = append(errs, errors.New("fail_next.count: is required"))
		case *p.FailNext.Count < 0:
			errs = append(errs, fmt.Errorf("fail_next.count: %d is negative", *p.FailNext.Count))
		default:
			fn.remaining.Store(*p.FailNext.Count)
		}
		if p.FailNext.Status != nil {
			fn.status = int(*p.FailNext.Status)
		}
		if !ValidFailStatus(fn.status) {
			errs = append(errs, fmt.Errorf("fail_next.status: %d is not 400..599 or 0 (hold)", fn.status))
		}
	}
	if err := s.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := joinLine(errs); err != nil {
		return Settings{}, nil, err
	}
	return s, fn, nil
}
