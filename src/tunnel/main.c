/* tunnel: expose a local TCP or UDP service over libp2p (host), reach one
 * given its token (client), or relay for others (-relay-service). See
 * `tunnel --help` and issue 4. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "tunnel/app.h"
#include "tunnel/app_client.h"
#include "tunnel/app_host.h"
#include "tunnel/app_relay.h"
#include "tunnel/cli.h"
#include "tunnel/control.h"
#include "tunnel/output.h"

/* Allocations above this come from mmap; free heap above the trim
 * threshold goes back to the system. */
#define MAIN_MMAP_THRESHOLD (4 * 1024 * 1024)
#define MAIN_TRIM_THRESHOLD (16 * 1024 * 1024)

int main(int argc, char **argv)
{
	tunnel_opts o;
	char err[TUNNEL_CLI_ERR_MAX];
	if (tunnel_cli_parse(&o, argc, argv, err, sizeof err) < 0) {
		fprintf(stderr, "tunnel: %s\n", err);
		tunnel_emit_error(stdout, "%s", err);
		return TUNNEL_EXIT_USAGE;
	}
	if (o.help) {
		fputs(tunnel_cli_usage(), stdout);
		return TUNNEL_EXIT_OK;
	}
	if (o.version) {
		printf("tunnel %s\n", P2P_VERSION);
		return TUNNEL_EXIT_OK;
	}
	/* Every tunneled TCP connection costs a socket on each side: allow as
	 * many as the system lets us. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* A peer or local program that goes away must not kill us. */
	signal(SIGPIPE, SIG_IGN);
#if defined(__GLIBC__)
	/* The byte path frees and reallocates buffers of a few hundred KiB
	 * all the time; above glibc's default thresholds each one is a fresh
	 * mmap (page faults, zeroed pages) costing about a quarter of the
	 * CPU per byte. Keep them on the heap. */
	mallopt(M_MMAP_THRESHOLD, MAIN_MMAP_THRESHOLD);
	mallopt(M_TRIM_THRESHOLD, MAIN_TRIM_THRESHOLD);
#endif

	uv_loop_t loop;
	if (uv_loop_init(&loop) < 0) {
		tunnel_emit_error(stdout, "cannot start the event loop");
		return TUNNEL_EXIT_FAILURE;
	}
	/* From here on, a stdout or stderr nobody reads cannot stall the
	 * loop (output.h). */
	tunnel_output_init(&loop);
	int rc = o.role == TUNNEL_ROLE_RELAY    ? tunnel_relay_main(&loop, &o)
	         : o.role == TUNNEL_ROLE_CLIENT ? tunnel_client_main(&loop, &o)
	                                        : tunnel_host_main(&loop, &o);
	/* The app that stopped on a full event queue is gone. */
	tunnel_output_on_events_full(NULL, NULL);
	/* Drain what closing left behind, write out what is still queued for
	 * stdout and stderr (for a while), then free the loop. Events that
	 * never reached stdout's reader make the run a failure. */
	uv_run(&loop, UV_RUN_DEFAULT);
	if (tunnel_output_close(TUNNEL_OUTPUT_EXIT_WAIT_MS) && rc == TUNNEL_EXIT_OK)
		rc = TUNNEL_EXIT_FAILURE;
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0 && o.verbosity > 0)
		fprintf(stderr, "tunnel: handles left open at exit\n");
	return rc;
}
