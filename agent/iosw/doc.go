// Package iosw is the agent's I/O switchboard, after Mesos' io_switchboard:
// it stands between a container's standard streams and the clients that
// attach to them (ATTACH_CONTAINER_INPUT and ATTACH_CONTAINER_OUTPUT of the
// v1 agent API, nested container sessions, the web UI's terminal).
//
// A Board carries one container's streams: a pseudo-terminal's master side
// (a task launched with ContainerInfo.tty_info, a session with a TTY) or
// three pipes (a session without one). Its pumps read the output as the
// process writes it and, in this order, append it to a sink (the sandbox's
// stdout file for a task, so that logs are whole whether or not anybody is
// attached) and hand it to every attached Reader. A Reader holds a bounded
// queue: one that falls that far behind is dropped, never waited for, so a
// client that stops reading cannot block the container or its logs. A
// Board with no sink (a session's, whose output goes to its one client
// and nowhere else) waits for its readers instead, so that the client
// gets every byte and a slow client slows the process, as a pipe would. At
// most one client holds the input at a time (Mesos answers a second one
// 409).
//
// The life of a Board, as the launcher drives it:
//
//  1. New: the streams exist, nothing is read yet; Subscribe here misses
//     nothing (a session's caller subscribes before it starts).
//  2. Start: the pumps run.
//  3. The process exits: Settle waits, bounded, for the pumps to read what
//     is left (EOF, or EIO on a terminal), closes everything, and waits,
//     bounded, for the attached clients to take the last of the output
//     and detach; a Reader's Take says there is no more after its last
//     chunk.
//
// A task without a terminal has no Board: its stdout and stderr go
// straight to the sandbox files, where nothing of the agent can slow or
// lose them (an agent restart included), and Follow streams what is
// appended to them.
package iosw
