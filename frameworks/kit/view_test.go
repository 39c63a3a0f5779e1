package kit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestViewEncodesUnderTheLockOrAnswersTheError(t *testing.T) {
	var mu sync.Mutex
	held := false
	w := httptest.NewRecorder()
	View(w, &mu, func() (any, *Error) {
		held = !mu.TryLock()
		return map[string]int{"n": 1}, nil
	})
	if !held || w.Code != http.StatusOK || w.Body.String() != "{\n  \"n\": 1\n}\n" {
		t.Errorf("view: lock held %v, answered %d %q", held, w.Code, w.Body.String())
	}
	if !mu.TryLock() {
		t.Fatal("View kept the lock")
	}
	mu.Unlock()
	w = httptest.NewRecorder()
	View(w, &mu, func() (any, *Error) { return nil, Errorf(http.StatusNotFound, "job %q does not exist", "x") })
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `"message": "job \"x\" does not exist"`) {
		t.Errorf("error: %d %q", w.Code, w.Body.String())
	}
}

// A change is answered only once it is durable; one that cannot be
// stored is a 503 and stays pending for the next flush.
func TestChangeCommitsBeforeItAnswers(t *testing.T) {
	st := &journal{Store: openLocal(t)}
	var mu sync.Mutex
	recs := map[string]*record{}
	d := NewDurable(st, &mu, DurableOptions{Name: "test"})
	tab := d.Table("t", JSONIn(recs))
	put := func(name string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		Change(w, httptest.NewRequest(http.MethodPost, "/", nil), d, http.StatusCreated, func() (any, *Error) {
			if recs[name] != nil {
				return nil, Errorf(http.StatusConflict, "%s exists", name)
			}
			recs[name] = &record{Name: name}
			tab.Mark(name)
			return recs[name], nil
		})
		return w
	}
	if w := put("a"); w.Code != http.StatusCreated || w.Body.String() != "{\n  \"name\": \"a\"\n}\n" {
		t.Errorf("created: %d %q", w.Code, w.Body.String())
	}
	if got := keys(t, st, "t"); len(got) != 1 || got[0] != `t/a={"name":"a"}` {
		t.Errorf("stored %v before answering", got)
	}
	if w := put("a"); w.Code != http.StatusConflict {
		t.Errorf("again: %d, want 409", w.Code)
	}
	st.fail(true)
	if w := put("b"); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "could not store the change, retry") {
		t.Errorf("store down: %d %q", w.Code, w.Body.String())
	}
	st.fail(false)
	if err := d.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := keys(t, st, "t"); len(got) != 2 {
		t.Errorf("after the store came back: %v, want a and b", got)
	}
}

func TestSortedListsInKeyOrderAndNeverNull(t *testing.T) {
	got := Sorted(map[string]int{"b": 2, "a": 1, "c": 3}, func(n int) int { return n * 10 })
	if len(got) != 3 || got[0] != 10 || got[1] != 20 || got[2] != 30 {
		t.Errorf("Sorted: %v", got)
	}
	if b := Encode(Sorted(map[string]int{}, func(n int) int { return n })); string(b) != "[]\n" {
		t.Errorf("empty list encodes as %q, want []", b)
	}
}
