#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "p2p/error.h"
#include "tunnel/cli.h"

/* Parses "tunnel" followed by the NULL-terminated arguments. */
static int parse(tunnel_opts *o, char *err, size_t err_len, ...)
{
	char *argv[64] = {"tunnel"};
	int argc = 1;
	va_list ap;
	va_start(ap, err_len);
	char *a;
	while ((a = va_arg(ap, char *)) != NULL && argc < 64)
		argv[argc++] = a;
	va_end(ap);
	return tunnel_cli_parse(o, argc, argv, err, err_len);
}

#define PARSE(o, err, ...) parse((o), (err), sizeof(err), __VA_ARGS__, (char *)NULL)

static void test_host_defaults(void **state)
{
	tunnel_opts o;
	char err[TUNNEL_CLI_ERR_MAX];
	assert_int_equal(PARSE(&o, err, "-port", "8080"), P2P_OK);
	assert_int_equal(o.role, TUNNEL_ROLE_HOST);
	assert_int_equal(o.port, 8080);
	assert_int_equal(o.network, TUNNEL_NETWORK_TCP);
	assert_false(o.network_set);
	assert_null(o.target);
	assert_null(o.key);
	assert_int_equal(o.n_listen, 0);
	assert_int_equal(o.verbosity, 0);
	assert_int_equal(o.udp_timeout_ms, TUNNEL_UDP_TIMEOUT_DEFAULT_MS);
}

static void test_dash_forms(void **state)
{
	tunnel_opts o;
	char err[TUNNEL_CLI_ERR_MAX];
	/* -flag V, --flag V, -flag=V, --flag=V all mean the same. */
	assert_int_equal(PARSE(&o, err, "--port=81", "-network=udp", "--listen",
	                       "/ip4/127.0.0.1/tcp/0", "-listen=/ip6/::1/tcp/0", "-v",
	                       "--v", "-compat", "--allow",
	                       "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
	                       "-udp-timeout", "2"),
	                 P2P_OK);
	assert_int_equal(o.port, 81);
	assert_int_equal(o.network, TUNNEL_NETWORK_UDP);
	assert_true(o.network_set);
	assert_int_equal(o.n_listen, 2);
	assert_string_equal(o.listen[1], "/ip6/::1/tcp/0");
	assert_int_equal(o.verbosity, 2);
	assert_true(o.compat);
	assert_int_equal(o.n_allow, 1);
	assert_int_equal(o.udp_timeout_ms, 2000);
}

static void test_client(void **state)
{
	tunnel_opts o;
	char err[TUNNEL_CLI_ERR_MAX];
	assert_int_equal(PARSE(&o, err, "-token", "AAAA", "-q"), P2P_OK);
	assert_int_equal(o.role, TUNNEL_ROLE_CLIENT);
	assert_int_equal(o.port, 0); /* any port */
	assert_string_equal(o.bind, "127.0.0.1");
	assert_int_equal(o.verbosity, -1);
	assert_int_equal(
	    PARSE(&o, err, "-token", "AAAA", "-port", "9000", "-bind", "::1"), P2P_OK);
	assert_int_equal(o.port, 9000);
	assert_string_equal(o.bind, "::1");
	assert_int_equal(PARSE(&o, err, "-token", "AAAA", "-connect",
	                       "/ip4/127.0.0.1/tcp/1", "--connect=/ip4/127.0.0.1/tcp/2"),
	                 P2P_OK);
	assert_int_equal(o.n_connect, 2);
	assert_string_equal(o.connect[1], "/ip4/127.0.0.1/tcp/2");
}

static void test_help_version(void **state)
{
	tunnel_opts o;
	char err[TUNNEL_CLI_ERR_MAX];
	assert_int_equal(PARSE(&o, err, "--help"), P2P_OK);
	assert_true(o.help);
	assert_int_equal(PARSE(&o, err, "-h"), P2P_OK);
	assert_true(o.help);
	assert_int_equal(PARSE(&o, err, "-version"), P2P_OK);
	assert_true(o.version);
	assert_non_null(strstr(tunnel_cli_usage(), "-token"));
}

static void test_errors(void **state)
{
	tunnel_opts o;
	char err[TUNNEL_CLI_ERR_MAX];
	/* Each is refused with a sentence. */
	assert_int_equal(PARSE(&o, err, "-bogus"), P2P_EINVAL);
	assert_non_null(strstr(err, "-bogus"));
	assert_int_equal(PARSE(&o, err, "-port"), P2P_EINVAL);
	assert_int_equal(PARSE(&o, err, "-port", "65536"), P2P_EINVAL);
	assert_int_equal(PARSE(&o, err, "-port", "12x"), P2P_EINVAL);
	assert_int_equal(PARSE(&o, err, "-port", "-1"), P2P_EINVAL);
	assert_int_equal(PARSE(&o, err, "-port", "0"), P2P_EINVAL); /* host */
	assert_int_equal(PARSE(&o, err, "-network", "sctp", "-port", "1"), P2P_EINVAL);
	assert_int_equal(PARSE(&o, err, "-target", "nocolon"), P2P_EINVAL);
	assert_int_equal(PARSE(&o, err, "-target", "::1:80"), P2P_EINVAL);
	assert_int_equal(parse(&o, err, sizeof err, (char *)NULL),
	                 P2P_EINVAL); /* nothing to do */
	assert_int_equal(PARSE(&o, err, "-port", "1", "-target", "a:2"), P2P_EINVAL);
	assert_int_equal(PARSE(&o, err, "-port", "1", "-bind", "127.0.0.1"), P2P_EINVAL);
	assert_int_equal(PARSE(&o, err, "-token", "A", "-target", "a:2"), P2P_EINVAL);
	assert_int_equal(PARSE(&o, err, "-token", "A", "-compat"), P2P_EINVAL);
	assert_int_equal(PARSE(&o, err, "-port", "1", "-connect", "/ip4/127.0.0.1/tcp/1"),
	                 P2P_EINVAL);
	assert_int_equal(PARSE(&o, err, "-port", "1", "-udp-timeout", "0"), P2P_EINVAL);
	assert_int_equal(PARSE(&o, err, "-port", "1", "-v=maybe"), P2P_EINVAL);
	assert_int_equal(PARSE(&o, err, "-port", "1", "stray"), P2P_EINVAL);
	assert_true(strlen(err) > 0);
}

static void test_listen_limit(void **state)
{
	tunnel_opts o;
	char err[TUNNEL_CLI_ERR_MAX];
	char *argv[2 + 2 * (TUNNEL_CLI_MAX_LISTEN + 1)];
	int argc = 0;
	argv[argc++] = "tunnel";
	argv[argc++] = "-port=1";
	for (int i = 0; i <= TUNNEL_CLI_MAX_LISTEN; i++) {
		argv[argc++] = "-listen";
		argv[argc++] = "/ip4/127.0.0.1/tcp/0";
	}
	assert_int_equal(tunnel_cli_parse(&o, argc, argv, err, sizeof err), P2P_EINVAL);
	assert_int_equal(tunnel_cli_parse(&o, argc - 2, argv, err, sizeof err), P2P_OK);
	assert_int_equal(o.n_listen, TUNNEL_CLI_MAX_LISTEN);
}

static void test_split_hostport(void **state)
{
	char h[64];
	int port;
	assert_int_equal(tunnel_cli_split_hostport("localhost:80", h, sizeof h, &port),
	                 P2P_OK);
	assert_string_equal(h, "localhost");
	assert_int_equal(port, 80);
	assert_int_equal(tunnel_cli_split_hostport("[::1]:443", h, sizeof h, &port),
	                 P2P_OK);
	assert_string_equal(h, "::1");
	assert_int_equal(port, 443);
	assert_int_equal(tunnel_cli_split_hostport(":80", h, sizeof h, &port),
	                 P2P_EINVAL);
	assert_int_equal(tunnel_cli_split_hostport("[]:80", h, sizeof h, &port),
	                 P2P_EINVAL);
	assert_int_equal(tunnel_cli_split_hostport("a:0", h, sizeof h, &port),
	                 P2P_EINVAL);
	assert_int_equal(tunnel_cli_split_hostport("a:", h, sizeof h, &port), P2P_EINVAL);
	/* Too long for the caller's buffer. */
	assert_int_equal(tunnel_cli_split_hostport("abcdef:1", h, 4, &port), P2P_EINVAL);
}

#define RELAY_ADDR                                                                       \
	"/ip4/198.18.0.10/tcp/4001/p2p/"                                                 \
	"12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"

static void test_relay_flags(void **state)
{
	tunnel_opts o;
	char err[TUNNEL_CLI_ERR_MAX];
	/* -relay on the host and on the client, repeatable. */
	assert_int_equal(
	    PARSE(&o, err, "-port", "80", "-relay", RELAY_ADDR, "-relay", RELAY_ADDR),
	    P2P_OK);
	assert_int_equal(o.role, TUNNEL_ROLE_HOST);
	assert_int_equal(o.n_relay, 2);
	assert_string_equal(o.relay[1], RELAY_ADDR);
	assert_int_equal(PARSE(&o, err, "-token", "x", "-relay", RELAY_ADDR), P2P_OK);
	assert_int_equal(o.role, TUNNEL_ROLE_CLIENT);
	assert_int_equal(o.n_relay, 1);
	/* A relay address must name the relay. */
	assert_int_equal(PARSE(&o, err, "-port", "80", "-relay", "/ip4/1.2.3.4/tcp/1"),
	                 P2P_EINVAL);
	assert_non_null(strstr(err, "/p2p/RELAYID"));

	/* -relay-service: defaults are go-libp2p's caps, no circuit limit. */
	assert_int_equal(PARSE(&o, err, "-relay-service"), P2P_OK);
	assert_int_equal(o.role, TUNNEL_ROLE_RELAY);
	assert_int_equal(o.relay_opts.max_reservations, 128);
	assert_int_equal(o.relay_opts.max_reservations_per_ip, 8);
	assert_int_equal(o.relay_opts.max_circuits_per_peer, 16);
	assert_int_equal(o.relay_opts.reservation_ttl, 3600);
	assert_int_equal(o.relay_opts.circuit_duration, 0);
	assert_int_equal(o.relay_opts.circuit_data, 0);
	assert_int_equal(PARSE(&o, err, "--relay-service", "-circuit-duration", "120",
	                       "-circuit-data=131072", "-max-circuits", "1000", "-allow",
	                       "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"),
	                 P2P_OK);
	assert_int_equal(o.relay_opts.circuit_duration, 120);
	assert_int_equal(o.relay_opts.circuit_data, 131072);
	assert_int_equal(o.relay_opts.max_circuits, 1000);
	assert_int_equal(o.n_allow, 1);
	/* Bad values and misplaced flags. */
	assert_int_equal(PARSE(&o, err, "-relay-service", "-max-circuits", "0"),
	                 P2P_EINVAL);
	assert_non_null(strstr(err, "-max-circuits"));
	assert_int_equal(PARSE(&o, err, "-relay-service", "-circuit-data", "-1"),
	                 P2P_EINVAL);
	assert_int_equal(PARSE(&o, err, "-relay-service", "-port", "80"), P2P_EINVAL);
	assert_int_equal(PARSE(&o, err, "-port", "80", "-max-circuits", "5"), P2P_EINVAL);
	assert_non_null(strstr(err, "-relay-service"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_host_defaults),  cmocka_unit_test(test_dash_forms),
	    cmocka_unit_test(test_client),         cmocka_unit_test(test_help_version),
	    cmocka_unit_test(test_errors),         cmocka_unit_test(test_listen_limit),
	    cmocka_unit_test(test_split_hostport), cmocka_unit_test(test_relay_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
