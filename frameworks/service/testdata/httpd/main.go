// Command httpd is a tiny web service the service framework's tests run
// as app instances: it listens on $PORT0 and answers /health with 200,
// or 500 when $HEALTH is "fail".
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if os.Getenv("HEALTH") == "fail" {
			http.Error(w, "unhealthy on purpose", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok", os.Getenv("MARATHON_APP_VERSION"))
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, os.Getenv("MESOS_TASK_ID"))
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT0"), nil))
}
