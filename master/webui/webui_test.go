package webui_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/master/webui"
)

func get(t *testing.T, h http.Handler, method, path string, header map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandlerServesIndexAndAssetsWithTheirTypes(t *testing.T) {
	h := webui.Handler()
	for _, c := range []struct {
		path, contentType, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script type="module" src="static/js/main.js">`},
		{"/static/app.css", "text/css; charset=utf-8", "prefers-color-scheme"},
		{"/static/js/main.js", "text/javascript; charset=utf-8", "import"},
		{"/static/js/pages/sandbox.js", "text/javascript; charset=utf-8", "/files/"},
	} {
		r := get(t, h, http.MethodGet, c.path, nil)
		b := body(t, r)
		if r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != c.contentType || !strings.Contains(b, c.contains) {
			t.Errorf("GET %s: %d %q, body has %q: %v", c.path, r.StatusCode, r.Header.Get("Content-Type"), c.contains, strings.Contains(b, c.contains))
		}
		if r.Header.Get("ETag") == "" || r.Header.Get("Cache-Control") != "no-cache" || r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: caching headers %v", c.path, r.Header)
		}
	}
	if csp := get(t, h, http.MethodGet, "/", nil).Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("index CSP %q: want scripts from this origin only, no eval", csp)
	}
}

func TestHandlerRevalidatesWithETags(t *testing.T) {
	h := webui.Handler()
	first := get(t, h, http.MethodGet, "/static/js/state.js", nil)
	etag := first.Header.Get("ETag")
	if r := get(t, h, http.MethodGet, "/static/js/state.js", map[string]string{"If-None-Match": etag}); r.StatusCode != http.StatusNotModified || body(t, r) != "" {
		t.Errorf("If-None-Match with the current ETag: %d", r.StatusCode)
	}
	if r := get(t, h, http.MethodGet, "/static/js/state.js", map[string]string{"If-None-Match": `"stale", W/` + etag}); r.StatusCode != http.StatusNotModified {
		t.Errorf("a list with a weak form of the ETag: %d", r.StatusCode)
	}
	if r := get(t, h, http.MethodGet, "/static/js/state.js", map[string]string{"If-None-Match": `"stale"`}); r.StatusCode != http.StatusOK {
		t.Errorf("a stale ETag: %d", r.StatusCode)
	}
	if other := get(t, h, http.MethodGet, "/static/js/api.js", nil).Header.Get("ETag"); other == etag {
		t.Errorf("two files share the ETag %s", etag)
	}
	head := get(t, h, http.MethodHead, "/", nil)
	if head.StatusCode != http.StatusOK || body(t, head) != "" || head.Header.Get("Content-Length") == "" {
		t.Errorf("HEAD /: %d, Content-Length %q", head.StatusCode, head.Header.Get("Content-Length"))
	}
}

func TestHandlerRefusesUnknownPathsAndMethods(t *testing.T) {
	h := webui.Handler()
	for _, path := range []string{"/nope", "/static/", "/static/nope.js", "/static/index.html", "/index.html", "/static/js/../app.css.map", "/static/js"} {
		if r := get(t, h, http.MethodGet, path, nil); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, r.StatusCode)
		}
	}
	if r := get(t, h, http.MethodPost, "/", nil); r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d, Allow %q", r.StatusCode, r.Header.Get("Allow"))
	}
}

// The master serves the UI at / while its own routes keep winning.
func TestMasterServesTheUIBesideItsAPI(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	check := func(method, path, contentType, payload string, status int, contains string) {
		t.Helper()
		req, err := http.NewRequest(method, c.MasterURL+path, strings.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b := body(t, resp)
		resp.Body.Close()
		if resp.StatusCode != status || !strings.Contains(b, contains) {
			t.Errorf("%s %s: %d %.200q, want %d with %q", method, path, resp.StatusCode, b, status, contains)
		}
	}
	check("GET", "/", "", "", 200, "<title>corral</title>")
	check("GET", "/static/js/main.js", "", "", 200, "follow(cluster)")
	check("POST", "/api/v1", "application/json", `{"type":"GET_HEALTH"}`, 200, `"healthy":true`)
	check("GET", "/api/v1", "", "", 405, "POST")
	check("GET", "/health", "", "", 200, `"healthy":true`)
	check("GET", "/metrics", "", "", 200, "corral_master_elected")
	check("GET", "/no-such-page", "", "", 404, "")
}
