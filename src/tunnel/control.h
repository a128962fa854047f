/* The control channel's I/O: JSON commands read from stdin on the libuv
 * loop (a pipe, a terminal or a file), one per line, and JSON events
 * written to stdout. The JSON itself is tunnel/json.h's.
 *
 * EOF on stdin only stops reading: the program goes on. */
#ifndef TUNNEL_CONTROL_H
#define TUNNEL_CONTROL_H

#include <stdbool.h>
#include <stdio.h>
#include <uv.h>

#include "p2p/buf.h"
#include "tunnel/json.h"

typedef struct tunnel_control tunnel_control;

/* A parsed command. */
typedef void (*tunnel_control_cmd_cb)(const tunnel_cmd *cmd, void *user);

/* Starts reading commands from fd (0 for stdin); events go to out. A
 * malformed line gets an ERROR event on out and no callback. */
int tunnel_control_new(tunnel_control **out, uv_loop_t *loop, int fd, FILE *events,
                       tunnel_control_cmd_cb cb, void *user);
/* Stops reading; the memory goes once libuv has closed the handle. */
void tunnel_control_close(tunnel_control *c);

/* Writes one event line (as made by tunnel_event_*) to `events` and
 * flushes, then empties line. With stdout a pipe or a socket, `events` is
 * output.h's FILE: this never blocks, and never drops the event. */
void tunnel_emit(FILE *events, p2p_buf *line);
/* Shorthand for an ERROR event with a printf-style sentence. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void tunnel_emit_error(FILE *events, const char *fmt, ...);

#endif
