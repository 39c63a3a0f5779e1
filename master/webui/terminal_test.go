package webui_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// The task page's Exec opens a shell beside the task (a session with a
// terminal on its agent, over a WebSocket), in xterm.js: a command typed
// there runs, and its output is drawn.
func TestTaskPageOpensATerminal(t *testing.T) {
	u := startUI(t, "#/tasks")
	f := startFramework(t, u.cluster, "web", "web")
	f.launch("shell-host", "sleep 300")
	u.visit(fmt.Sprintf("#/tasks/%s/shell-host", f.id()))
	u.waitFor("the Exec button", `document.getElementById('exec-button')?.disabled === false`)
	_ = eval[bool](u, `(document.getElementById('exec-button').click(), true)`)
	u.waitFor("the shell", `document.getElementById('terminal').dataset.state === 'open'`)
	typeLine(u, "echo hello")
	// The line the shell printed, not the command line that was typed.
	u.waitFor("hello printed by the shell", `[...document.querySelectorAll('#terminal .xterm-rows > div')].some((row) => row.textContent.trim() === 'hello')`)
	u.screenshot("terminal")
	typeLine(u, "exit 3")
	u.waitFor("the session's end", `document.getElementById('terminal').dataset.state === 'closed'`)
	if note := eval[string](u, `document.getElementById('terminal-status').textContent`); !strings.Contains(note, "status 3") {
		t.Errorf("after exit 3 the page says %q", note)
	}
}

// typeLine types a line into the focused terminal as a person would: the
// text as one input, then the Enter key.
func typeLine(u *ui, text string) {
	u.t.Helper()
	if err := chromedp.Do(u.ctx, chromedp.Focus("#terminal .xterm-helper-textarea")); err != nil {
		u.t.Fatalf("focusing the terminal: %v", err)
	}
	enter := func(t input.DispatchKeyEventType) input.DispatchKeyEventParams {
		return input.DispatchKeyEventParams{Type: t, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13}
	}
	_, err := chromedp.Call(u.ctx, input.InsertText, input.InsertTextParams{Text: text})
	if err == nil {
		_, err = chromedp.Call(u.ctx, input.DispatchKeyEvent, enter(input.DispatchKeyEventTypeRawKeyDown))
	}
	if err == nil {
		_, err = chromedp.Call(u.ctx, input.DispatchKeyEvent, enter(input.DispatchKeyEventTypeKeyUp))
	}
	if err != nil {
		u.t.Fatalf("typing %q into the terminal: %v", text, err)
	}
}
