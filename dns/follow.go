package dns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/recordio"
)

// Detector finds the leading master as host:port (election.Detector and
// the SDK's detectors satisfy it).
type Detector interface {
	Leader(ctx context.Context) (string, error)
}

// FollowConfig says how to reach the master.
type FollowConfig struct {
	// Detector finds the leader; nil uses Master.
	Detector Detector
	// Master is a master's host:port; a standby redirects to the leader.
	Master string
	// Client makes the requests (TLS, credentials); nil uses a plain one.
	// Its Timeout must be zero: the event stream stays open.
	Client *http.Client
	// Scheme is "http" (default) or "https".
	Scheme string
	// MinBackoff and MaxBackoff pace reconnection; defaults 100 ms, 2 s.
	MinBackoff, MaxBackoff time.Duration
}

const (
	maxRedirects  = 9
	maxEventBytes = 64 << 20
)

// Follow keeps the records in step with the leading master until ctx
// ends: it subscribes to the operator event stream, applies every event,
// and publishes a new table after each burst. When the stream ends (the
// master failed over, the network broke, heartbeats stopped) it finds
// the leader again and resubscribes; the last table keeps being served
// meanwhile.
func (s *Server) Follow(ctx context.Context, cfg FollowConfig) error {
	if cfg.Detector == nil && cfg.Master == "" {
		return errors.New("dns: a master or a leader detector is required")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	client := *cfg.Client
	// A 307 from a standby is followed here, re-sending the call.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.Client = &client
	if cfg.Scheme == "" {
		cfg.Scheme = "http"
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(2*time.Second, cfg.MinBackoff)
	}
	f := &follower{s: s, cfg: cfg, c: newCluster(), serial: uint32(time.Now().Unix())}
	backoff := cfg.MinBackoff
	for {
		subscribed, err := f.once(ctx)
		s.metrics.connected.Set(0)
		if ctx.Err() != nil {
			return nil
		}
		if subscribed {
			backoff = cfg.MinBackoff
		}
		s.log.Warn("dns: the master's event stream ended; following it again", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, cfg.MaxBackoff)
	}
}

type follower struct {
	s      *Server
	cfg    FollowConfig
	c      *cluster
	serial uint32
}

type item struct {
	ev  *masterpb.Event
	err error
}

// once follows one stream to its end; subscribed says whether it got as
// far as the master's state.
func (f *follower) once(ctx context.Context) (subscribed bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	leader := f.cfg.Master
	if f.cfg.Detector != nil {
		if leader, err = f.cfg.Detector.Leader(ctx); err != nil {
			return false, fmt.Errorf("finding the leading master: %w", err)
		}
	}
	resp, leader, err := f.subscribe(ctx, leader)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	items := make(chan item, 256)
	go read(ctx, resp.Body, items)
	// Until SUBSCRIBED names the heartbeat interval, a minute of silence
	// is allowed; then three missed heartbeats end the stream.
	watch := time.Minute
	watchdog := time.AfterFunc(watch, func() { cancel(errors.New("no heartbeat from the master")) })
	defer watchdog.Stop()
	for {
		var it item
		select {
		case <-ctx.Done():
			return subscribed, context.Cause(ctx)
		case it = <-items:
		}
		changed := false
		// Apply the whole burst, then build once: under a storm of
		// updates the table lags by one build, not by one per event.
		for {
			if it.err != nil {
				return subscribed, fmt.Errorf("event stream from %s: %w", leader, it.err)
			}
			f.s.metrics.events.Inc()
			watchdog.Reset(watch)
			if it.ev.GetType() == masterpb.Event_SUBSCRIBED {
				subscribed = true
				f.c.leader = leader
				f.s.metrics.connected.Set(1)
				f.s.log.Info("dns: following the master", "master", leader)
				if hb := it.ev.GetSubscribed().GetHeartbeatIntervalSeconds(); hb > 0 {
					watch = time.Duration(3*hb*float64(time.Second)) + time.Second
					watchdog.Reset(watch)
				}
			}
			if f.c.apply(it.ev) {
				changed = true
			}
			select {
			case it = <-items:
				continue
			default:
			}
			break
		}
		if changed && subscribed {
			f.serial++
			f.s.publish(build(f.c, f.s.domain, f.serial))
		}
	}
}

// subscribe POSTs SUBSCRIBE, following a standby's redirects to the
// leader; it returns the open stream and who answered.
func (f *follower) subscribe(ctx context.Context, leader string) (*http.Response, string, error) {
	body, err := codec.Protobuf.Marshal(&masterpb.Call{Type: masterpb.Call_SUBSCRIBE.Enum()})
	if err != nil {
		return nil, "", err
	}
	for hop := 0; ; hop++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.cfg.Scheme+"://"+leader+"/api/v1", bytes.NewReader(body))
		if err != nil {
			return nil, "", fmt.Errorf("master %q: %w", leader, err)
		}
		req.Header.Set("Content-Type", codec.ProtobufMediaType)
		req.Header.Set("Accept", codec.ProtobufMediaType)
		resp, err := f.cfg.Client.Do(req)
		if err != nil {
			return nil, "", fmt.Errorf("subscribing to %s: %w", leader, err)
		}
		if resp.StatusCode == http.StatusTemporaryRedirect && hop < maxRedirects {
			resp.Body.Close()
			u, err := url.Parse(resp.Header.Get("Location"))
			if err != nil || u.Host == "" {
				return nil, "", fmt.Errorf("master %s redirected to %q", leader, resp.Header.Get("Location"))
			}
			leader = u.Host
			continue
		}
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
			resp.Body.Close()
			return nil, "", fmt.Errorf("subscribing to %s: %s: %s", leader, resp.Status, strings.TrimSpace(string(msg)))
		}
		return resp, leader, nil
	}
}

// read decodes events until the stream ends, then sends the error; it
// gives up sending once ctx (the stream's) is done.
func read(ctx context.Context, body io.Reader, items chan<- item) {
	r := recordio.NewReader(body, maxEventBytes)
	send := func(it item) bool {
		select {
		case items <- it:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		rec, err := r.ReadRecord()
		if err != nil {
			send(item{err: err})
			return
		}
		ev := &masterpb.Event{}
		if err := codec.Protobuf.Unmarshal(rec, ev); err != nil {
			send(item{err: fmt.Errorf("decoding an event: %w", err)})
			return
		}
		if !send(item{ev: ev}) {
			return
		}
	}
}
