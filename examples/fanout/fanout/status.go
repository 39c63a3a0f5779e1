package fanout

import (
	"encoding/json"
	"html/template"
	"net/http"
)

// Status is the job's progress.
type Status struct {
	Shards []Shard `json:"shards"`
	// Counts is how many shards are in each state.
	Counts map[string]int `json:"counts"`
	// Error is why the job failed, if it did.
	Error string `json:"error,omitempty"`
}

// Status returns the job's progress now.
func (j *Job) Status() Status {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := Status{Counts: make(map[string]int)}
	for _, s := range j.shards {
		c := *s
		c.failedOn = nil
		st.Shards = append(st.Shards, c)
		st.Counts[s.State]++
	}
	if j.err != nil {
		st.Error = j.err.Error()
	}
	return st
}

var page = template.Must(template.New("status").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>fanout</title><meta http-equiv="refresh" content="2"></head>
<body><h1>fanout</h1>
<p>{{range $state, $n := .Counts}}{{$n}} {{$state}} {{end}}</p>
{{with .Error}}<p><strong>{{.}}</strong></p>{{end}}
<table border="1" cellpadding="4">
<tr><th>shard</th><th>state</th><th>attempts</th><th>agent</th><th>output</th><th>last error</th></tr>
{{range .Shards}}<tr><td>{{.Index}}</td><td>{{.State}}</td><td>{{.Attempts}}</td><td>{{.Agent}}</td><td><pre>{{.Output}}</pre></td><td>{{.Error}}</td></tr>
{{end}}</table></body></html>
`))

// Handler serves the status page: GET / as HTML (refreshing itself),
// GET /status as JSON.
func (j *Job) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(j.Status())
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, j.Status())
	})
	return mux
}
