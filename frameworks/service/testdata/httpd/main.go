// Command httpd is a tiny web service the service framework's tests run
// as app instances. It listens on $PORT0 and answers /health with 200, or
// 500 when $HEALTH is "fail" or the file $SICK_FILE exists; /ready answers
// 503 until $READY_AFTER (a duration) has passed since it started.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	started := time.Now()
	readyAfter, _ := time.ParseDuration(os.Getenv("READY_AFTER"))
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if os.Getenv("HEALTH") == "fail" {
			http.Error(w, "unhealthy on purpose", http.StatusInternalServerError)
			return
		}
		if f := os.Getenv("SICK_FILE"); f != "" {
			if _, err := os.Stat(f); err == nil {
				http.Error(w, "sick", http.StatusInternalServerError)
				return
			}
		}
		fmt.Fprintln(w, "ok", os.Getenv("MARATHON_APP_VERSION"))
	})
	http.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		if time.Since(started) < readyAfter {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, os.Getenv("MESOS_TASK_ID"))
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT0"), nil))
}
