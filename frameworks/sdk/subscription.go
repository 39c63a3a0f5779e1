package sdk

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

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/recordio"
)

const (
	streamIDHeader = "Mesos-Stream-Id"
	maxRedirects   = 9
	maxEventBytes  = 64 << 20
)

// subscription runs one SUBSCRIBE stream to its end.
func (s *Scheduler) subscription(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	leader, err := s.cfg.Detector.Leader(ctx)
	if err != nil {
		return fmt.Errorf("sdk: finding the leading master: %w", err)
	}
	s.mu.Lock()
	info := proto.CloneOf(s.info)
	s.mu.Unlock()
	sub := &schedulerpb.Call{
		Type:        schedulerpb.Call_SUBSCRIBE.Enum(),
		FrameworkId: info.GetId(),
		Subscribe:   &schedulerpb.Call_Subscribe{FrameworkInfo: info},
	}
	var resp *http.Response
	for hop := 0; ; hop++ {
		resp, err = s.do(ctx, leader, "", sub)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusTemporaryRedirect || hop == maxRedirects {
			break
		}
		resp.Body.Close()
		u, perr := url.Parse(resp.Header.Get("Location"))
		if perr != nil || u.Host == "" {
			return fmt.Errorf("sdk: bad redirect Location %q", resp.Header.Get("Location"))
		}
		leader = u.Host
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return callError(resp)
	}
	if ct := resp.Header.Get("Content-Type"); ct != s.cfg.Codec.MediaType() {
		return fmt.Errorf("sdk: SUBSCRIBE answered with Content-Type %q, want %q", ct, s.cfg.Codec.MediaType())
	}
	stream := resp.Header.Get(streamIDHeader)
	if stream == "" {
		return errors.New("sdk: SUBSCRIBE answer has no Mesos-Stream-Id")
	}
	r := recordio.NewReader(resp.Body, maxEventBytes)
	// The watchdog ends a stream that has gone quiet: until SUBSCRIBED
	// names the heartbeat interval, a minute of silence is allowed.
	watch := time.Minute
	watchdog := time.AfterFunc(watch, func() { cancel(errHeartbeat) })
	defer watchdog.Stop()
	defer s.unsubscribed(stream)
	for {
		rec, err := r.ReadRecord()
		if err != nil {
			if cause := context.Cause(ctx); errors.Is(cause, errHeartbeat) {
				return fmt.Errorf("sdk: no event from %s for %v: %w", leader, watch, cause)
			}
			return fmt.Errorf("sdk: event stream from %s: %w", leader, err)
		}
		watchdog.Reset(watch)
		ev := &schedulerpb.Event{}
		if err := s.cfg.Codec.Unmarshal(rec, ev); err != nil {
			return fmt.Errorf("sdk: decoding an event: %w", err)
		}
		switch ev.GetType() {
		case schedulerpb.Event_HEARTBEAT:
		case schedulerpb.Event_SUBSCRIBED:
			sub := ev.GetSubscribed()
			if hb := sub.GetHeartbeatIntervalSeconds(); hb > 0 {
				watch = time.Duration(3*hb*float64(time.Second)) + time.Second
				watchdog.Reset(watch)
			}
			if err := s.subscribed(leader, stream, sub.GetFrameworkId().GetValue()); err != nil {
				return err
			}
			if err := s.dispatch(ctx, ev); err != nil {
				return err
			}
			if !s.cfg.DisableReconcile {
				if err := s.Reconcile(ctx); err != nil {
					return fmt.Errorf("sdk: reconciling after subscribing: %w", err)
				}
			}
		case schedulerpb.Event_ERROR:
			if err := s.dispatch(ctx, ev); err != nil {
				return err
			}
			msg := ev.GetError().GetMessage()
			if strings.Contains(msg, "removed") {
				return fmt.Errorf("%w: %s", ErrTornDown, msg)
			}
			return fmt.Errorf("sdk: master sent ERROR: %s", msg)
		default:
			if err := s.dispatch(ctx, ev); err != nil {
				return err
			}
		}
	}
}

var errHeartbeat = errors.New("heartbeat missed")

func (s *Scheduler) subscribed(leader, stream, id string) error {
	if id == "" {
		return errors.New("sdk: SUBSCRIBED without a framework ID")
	}
	s.mu.Lock()
	old := s.info.GetId().GetValue()
	s.leader, s.streamID = leader, stream
	s.mu.Unlock()
	s.setID(id)
	if id != old {
		if err := s.cfg.IDStore.Save(id); err != nil {
			return fmt.Errorf("sdk: saving the framework ID: %w", err)
		}
	}
	s.log.Info("subscribed", "framework_id", id, "master", leader)
	return nil
}

func (s *Scheduler) unsubscribed(stream string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streamID == stream {
		s.streamID = ""
	}
}

// dispatch hands ev to the handler and then acknowledges it if needed.
func (s *Scheduler) dispatch(ctx context.Context, ev *schedulerpb.Event) error {
	if s.handler != nil {
		if err := s.handler.HandleEvent(ctx, ev); err != nil {
			return &handlerError{err}
		}
	}
	st := ev.GetUpdate().GetStatus()
	if ev.GetType() != schedulerpb.Event_UPDATE || len(st.GetUuid()) == 0 || s.cfg.DisableAutoAck || s.tornDown.Load() {
		return nil
	}
	return s.Acknowledge(ctx, st)
}

// do posts one call to leader.
func (s *Scheduler) do(ctx context.Context, leader, stream string, c *schedulerpb.Call) (*http.Response, error) {
	body, err := s.cfg.Codec.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("sdk: encoding %v: %w", c.GetType(), err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, auth.Scheme(s.cfg.TLS)+"://"+leader+"/api/v1/scheduler", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("sdk: %w", err)
	}
	req.Header.Set("Content-Type", s.cfg.Codec.MediaType())
	req.Header.Set("Accept", s.cfg.Codec.MediaType())
	if stream != "" {
		req.Header.Set(streamIDHeader, stream)
	}
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sdk: %v to %s: %w", c.GetType(), leader, err)
	}
	return resp, nil
}

// post sends a non-SUBSCRIBE call and expects 202 (or 200).
func (s *Scheduler) post(ctx context.Context, leader, stream string, c *schedulerpb.Call) error {
	resp, err := s.do(ctx, leader, stream, c)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return callError(resp)
}

func callError(resp *http.Response) error {
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return &CallError{Status: resp.StatusCode, Message: strings.TrimSpace(string(msg))}
}
