#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/multibase.h"

static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = strlen(hex) / 2;
	for (size_t i = 0; i < n; i++) {
		unsigned b;
		sscanf(hex + 2 * i, "%2x", &b);
		out[i] = (uint8_t)b;
	}
	return n;
}

/* Parses text, checks binary (if hex given), prints back and checks the
 * text (want, or text itself if want is NULL), and parses that again. */
static void check_text(const char *text, const char *hex, const char *want)
{
	p2p_buf bin, str, again;
	p2p_buf_init(&bin);
	p2p_buf_init(&str);
	p2p_buf_init(&again);
	int rc = p2p_multiaddr_parse(text, &bin);
	if (rc != P2P_OK)
		fail_msg("parse %s: %s", text, p2p_strerror(rc));
	if (hex != NULL) {
		uint8_t expect[256];
		size_t n = unhex(hex, expect);
		assert_int_equal(bin.len, n);
		assert_memory_equal(bin.data, expect, n);
	}
	assert_int_equal(p2p_multiaddr_validate(bin.data, bin.len), P2P_OK);
	assert_int_equal(p2p_multiaddr_to_string(bin.data, bin.len, &str), P2P_OK);
	if (want == NULL)
		want = text;
	assert_string_equal((const char *)str.data, want);
	assert_int_equal(str.len, strlen(want));
	assert_int_equal(p2p_multiaddr_parse((const char *)str.data, &again), P2P_OK);
	assert_int_equal(again.len, bin.len);
	assert_memory_equal(again.data, bin.data, bin.len);
	p2p_buf_free(&again);
	p2p_buf_free(&str);
	p2p_buf_free(&bin);
}

/* go-multiaddr TestStringToBytes/TestBytesToString and the multiaddr
 * repo's multiaddr.feature. */
static void test_binary_vectors(void **state)
{
	check_text("/ip4/127.0.0.1/udp/1234", "047f000001910204d2", NULL);
	check_text("/ip4/127.0.0.1/tcp/4321", "047f0000010610e1", NULL);
	check_text("/ip4/127.0.0.1/udp/1234/ip4/127.0.0.1/tcp/4321",
	           "047f000001910204d2047f0000010610e1", NULL);
	check_text("/ip4/192.0.2.42/tcp/443", "04c000022a0601bb", NULL);
	/* Zero-length protocols and two-byte codes. */
	check_text("/ip4/127.0.0.1/udp/1234/quic-v1", "047f000001910204d2cd03", NULL);
	check_text("/p2p-circuit", "a202", NULL);
	check_text("/dns4/example.com/tcp/443/wss",
	           "360b6578616d706c652e636f6d0601bbde03", NULL);
	check_text("/unix/stdio",
	           "900306"
	           "2f737464696f",
	           NULL);
	check_text(
	    "/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC",
	    "a503221220d52ebb89d85b02a284948203a62ff28389c57c9f42beec4ec20db76a68911c0b",
	    NULL);
	check_text("/memory/4",
	           "8906"
	           "0000000000000004",
	           NULL);
}

/* go-multiaddr TestConstructSucceeds and TestRoundTrip, minus onion and
 * garlic which we do not support. */
static void test_good(void **state)
{
	static const char *same[] = {
	    "/ip4/1.2.3.4",
	    "/ip4/0.0.0.0",
	    "/ip4/192.0.2.0/ipcidr/24",
	    "/ip6/::1",
	    "/ip6/2601:9:4f81:9700:803e:ca65:66e8:c21",
	    "/ip6/2601:9:4f81:9700:803e:ca65:66e8:c21/udp/1234/quic",
	    "/ip6/2601:9:4f81:9700:803e:ca65:66e8:c21/udp/1234/quic-v1",
	    "/ip6/2001:db8::/ipcidr/32",
	    "/ip6zone/x/ip6/fe80::1",
	    "/ip6zone/x%y/ip6/fe80::1",
	    "/ip6zone/x%y/ip6/::",
	    "/ip6zone/x/ip6/fe80::1/udp/1234/quic",
	    "/ip6zone/x/ip6/fe80::1/udp/1234/quic-v1",
	    "/udp/0",
	    "/tcp/0",
	    "/sctp/0",
	    "/udp/1234",
	    "/tcp/1234",
	    "/sctp/1234",
	    "/udp/65535",
	    "/tcp/65535",
	    "/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC",
	    "/p2p/12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV",
	    "/udp/1234/sctp/1234",
	    "/udp/1234/udt",
	    "/udp/1234/utp",
	    "/tcp/1234/http",
	    "/tcp/1234/tls/http",
	    "/tcp/1234/https",
	    "/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/tcp/1234",
	    "/ip4/127.0.0.1/udp/1234",
	    "/ip4/127.0.0.1/udp/0",
	    "/ip4/127.0.0.1/tcp/1234",
	    "/ip4/127.0.0.1/udp/1234/quic",
	    "/ip4/127.0.0.1/udp/1234/quic-v1",
	    "/ip4/127.0.0.1/udp/1234/quic-v1/webtransport",
	    "/ip4/127.0.0.1/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/tcp/1234",
	    "/unix/a/b/c/d/e",
	    "/unix/stdio",
	    "/ip4/1.2.3.4/tcp/80/unix/a/b/c/d/e/f",
	    "/ip4/127.0.0.1/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/tcp/1234/"
	    "unix/"
	    "stdio",
	    "/ip4/127.0.0.1/tcp/9090/http/p2p-webrtc-direct",
	    "/ip4/127.0.0.1/tcp/127/ws",
	    "/ip4/127.0.0.1/tcp/127/tls",
	    "/ip4/127.0.0.1/tcp/127/tls/ws",
	    "/ip4/127.0.0.1/tcp/127/noise",
	    "/ip4/127.0.0.1/tcp/127/wss",
	    "/ip4/127.0.0.1/tcp/127/webrtc-direct",
	    "/ip4/127.0.0.1/tcp/127/webrtc",
	    "/http-path/tmp%2Fbar",
	    "/http-path/tmp%2Fbar%2Fbaz",
	    "/http-path/foo",
	    "/ip4/127.0.0.1/tcp/0/p2p/"
	    "12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV/"
	    "http-path/foo",
	    "/ip4/127.0.0.1/tcp/443/tls/sni/example.com/http/http-path/foo",
	    "/memory/4",
	    "/ip6/::ffff:127.0.0.1/tcp/111",
	    "/ip4/127.0.0.1/udp/123/ip6/::",
	    "/ip4/127.0.0.1/udp/1234/quic-v1/webtransport/certhash/"
	    "uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g",
	    "/p2p/QmbHVEEepCi7rn7VL7Exxpd2Ci9NNB6ifvqwhsrbRMgQFP/unix/a/b/c",
	    "/ip4/127.0.0.1/tcp/4001/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/"
	    "p2p-circuit/p2p/12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV",
	    "/dns/example.com/tcp/80",
	    "/dns6/example.com/udp/443/quic-v1",
	    "/dnsaddr/bootstrap.libp2p.io",
	    "/memory/18446744073709551615",
	};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		check_text(same[i], NULL, NULL);

	/* Accepted but written differently: aliases, CIDs, other bases,
	 * trailing slashes, non-canonical IPv6. */
	static const struct {
		const char *in, *out;
	} other[] = {
	    {"/ipfs/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC",
	     "/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC"},
	    {"/ipfs/k2k4r8oqamigqdo6o7hsbfwd45y70oyynp98usk7zmyfrzpqxh1pohl7/tcp/1234",
	     "/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/tcp/1234"},
	    {"/p2p/k51qzi5uqu5dhb6l8spkdx7yxafegfkee5by8h7lmjh2ehc2sgg34z7c15vzqs",
	     "/p2p/12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV"},
	    {"/p2p/bafzaajaiaejcalj543iwv2d7pkjt7ykvefrkfu7qjfi6sduakhso4lay6abn2d5u",
	     "/p2p/12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV"},
	    {"/p2p/bafzbeigvf25ytwc3akrijfecaotc74udrhcxzh2cx3we5qqnw5vgrei4bm",
	     "/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC"},
	    {"/ip4/127.0.0.1/tcp/1234/", "/ip4/127.0.0.1/tcp/1234"},
	    {"/ip4/127.0.0.1/tcp/1234///", "/ip4/127.0.0.1/tcp/1234"},
	    {"/ip6/2001:DB8:0:0:0:0:0:1/tcp/01", "/ip6/2001:db8::1/tcp/1"},
	    {"/ip4/127.0.0.1/udp/1234/quic-v1/webtransport/certhash/"
	     "b2uaraocy6yrdblb4sfptaddgimjmmpy",
	     "/ip4/127.0.0.1/udp/1234/quic-v1/webtransport/certhash/"
	     "u1QEQOFj2IjCsPJFfMAxmQxLGPw"},
	    {"/ip4/127.0.0.1/udp/1234/quic-v1/webtransport/certhash/"
	     "b2uaraocy6yrdblb4sfptaddgimjmmpy/certhash/"
	     "zQmbWTwYGcmdyK9CYfNBcfs9nhZs17a6FQ4Y8oea278xx41",
	     "/ip4/127.0.0.1/udp/1234/quic-v1/webtransport/certhash/"
	     "u1QEQOFj2IjCsPJFfMAxmQxLGPw/"
	     "certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g"},
	    {"/http-path/a+b%2fc", "/http-path/a%20b%2Fc"},
	};
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		check_text(other[i].in, NULL, other[i].out);
}

/* go-multiaddr TestConstructFails (onion, garlic: unsupported here). */
static void test_bad_text(void **state)
{
	static const char *bad[] = {
	    "/ip4",
	    "/ip4/::1",
	    "/ip4/fdpsofodsajfdoisa",
	    "/ip4/::/ipcidr/256",
	    "/ip6/::/ipcidr/1026",
	    "/ip6",
	    "/ip6zone",
	    "/ip6zone/",
	    "/ip6zone//ip6/fe80::1",
	    "/udp",
	    "/tcp",
	    "/sctp",
	    "/udp/65536",
	    "/tcp/65536",
	    "/quic/65536",
	    "/quic-v1/65536",
	    "/onion/timaq4ygg2iegci7:80",
	    "/garlic32/566niximlxdzpanmn4qouucvua3k7neniwss47li5r6ugoertzuq",
	    "/udp/1234/sctp",
	    "/udp/1234/udt/1234",
	    "/udp/1234/utp/1234",
	    "/ip4/127.0.0.1/udp/jfodsajfidosajfoidsa",
	    "/ip4/127.0.0.1/udp",
	    "/ip4/127.0.0.1/tcp/jfodsajfidosajfoidsa",
	    "/ip4/127.0.0.1/tcp",
	    "/ip4/127.0.0.1/quic/1234",
	    "/ip4/127.0.0.1/quic-v1/1234",
	    "/ip4/127.0.0.1/udp/1234/quic-v1/webtransport/certhash",
	    ("/ip4/127.0.0.1/udp/1234/quic-v1/webtransport/certhash/"
	     "b2uaraocy6yrdblb4sfptaddgimjmmp"),
	    "/ip4/127.0.0.1/ipfs",
	    "/ip4/127.0.0.1/ipfs/tcp",
	    "/ip4/127.0.0.1/p2p",
	    "/ip4/127.0.0.1/p2p/tcp",
	    "/unix",
	    "/ip4/1.2.3.4/tcp/80/unix",
	    "/ip4/1.2.3.4/tcp/-1",
	    "/ip4/127.0.0.1/tcp/9090/http/p2p-webcrt-direct",
	    "/memory/92233720368547758081",
	    "/memory/18446744073709551616",
	    "/",
	    "",
	    "/p2p/QmxoHT6iViN5xAjoz1VZ553cL31U9F94ht3QvWR1FrEbZY", /* digest > 32 */
	    "/http-path/thisIsMissingAfullByte%f",
	    "/http-path/%zz",
	    /* Ours: no leading slash, empty names, a non-libp2p-key CID, +port. */
	    "ip4/1.2.3.4",
	    "//ip4/1.2.3.4",
	    "/ip4//1.2.3.4",
	    "/p2p/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
	    "/tcp/+80",
	    "/ip4/01.2.3.4",
	    "/ip4/1.2.3.4 ",
	};
	p2p_buf bin;
	p2p_buf_init(&bin);
	p2p_buf_append(&bin, "x", 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = p2p_multiaddr_parse(bad[i], &bin);
		if (rc >= 0)
			fail_msg("should have failed: %s", bad[i]);
		assert_int_equal(bin.len, 1); /* untouched */
	}
	/* Unknown protocols are "unsupported", not malformed. */
	assert_int_equal(p2p_multiaddr_parse("/onion/timaq4ygg2iegci7:80", &bin),
	                 P2P_EUNSUPPORTED);
	assert_int_equal(p2p_multiaddr_parse("/ip4/1.2.3.4/foo", &bin), P2P_EUNSUPPORTED);
	p2p_buf_free(&bin);
}

static void test_bad_binary(void **state)
{
	static const struct {
		const char *hex;
		int rc;
	} bad[] = {
	    {"", P2P_EPROTO},
	    {"047f0000", P2P_EPROTO},     /* ip4 cut short */
	    {"047f00000106", P2P_EPROTO}, /* tcp without port */
	    {"0610e1ff", P2P_EPROTO},     /* trailing byte: varint cut */
	    {"8000", P2P_EPROTO},         /* non-minimal varint code */
	    {"ff", P2P_EPROTO},           /* code cut */
	    {"07", P2P_EUNSUPPORTED},     /* unknown code */
	    {"bc030010c0439831b48218480050", P2P_EUNSUPPORTED}, /* onion */
	    {"3500", P2P_EPROTO},                               /* empty dns name */
	    {"35", P2P_EPROTO},                                 /* dns without length */
	    {"3505616263", P2P_EPROTO},       /* length beyond the end */
	    {"3503612f62", P2P_EPROTO},       /* '/' in a name */
	    {"3503610062", P2P_EPROTO},       /* NUL in a name */
	    {"900301", P2P_EPROTO},           /* unix path too short */
	    {"9003026162", P2P_EPROTO},       /* unix path without '/' */
	    {"9003032f612f", P2P_EPROTO},     /* unix path ending in '/' */
	    {"9003022f610610e1", P2P_EPROTO}, /* component after a path */
	    {"a503021201", P2P_EPROTO},       /* p2p: bad multihash */
	    {"a50304130200ff", P2P_EPROTO},   /* p2p: sha2-512 */
	    {"a5030412020000", P2P_EPROTO},   /* p2p: short sha2-256 */
	    {"d2030100", P2P_EPROTO},         /* certhash: bad multihash */
	    {"e10300", P2P_EPROTO},           /* http-path: empty */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t bin[64];
		size_t n = unhex(bad[i].hex, bin);
		int rc = p2p_multiaddr_validate(bin, n);
		if (rc != bad[i].rc)
			fail_msg("%s: %d, want %d", bad[i].hex, rc, bad[i].rc);
		p2p_buf text;
		p2p_buf_init(&text);
		assert_int_equal(p2p_multiaddr_to_string(bin, n, &text), bad[i].rc);
		assert_int_equal(text.len, 0);
		p2p_buf_free(&text);
	}
}

static void test_limits(void **state)
{
	/* MAX_COMPONENTS components parse; one more does not. */
	char text[P2P_MULTIADDR_MAX_TEXT_LEN + 2];
	size_t n = 0;
	for (int i = 0; i < P2P_MULTIADDR_MAX_COMPONENTS; i++)
		n += (size_t)sprintf(text + n, "/tls");
	p2p_buf bin;
	p2p_buf_init(&bin);
	assert_int_equal(p2p_multiaddr_parse(text, &bin), P2P_OK);
	assert_int_equal(p2p_multiaddr_validate(bin.data, bin.len), P2P_OK);
	sprintf(text + n, "/tls");
	p2p_buf_reset(&bin);
	assert_int_equal(p2p_multiaddr_parse(text, &bin), P2P_ETOOBIG);
	/* In binary too. */
	uint8_t many[2 * (P2P_MULTIADDR_MAX_COMPONENTS + 1)];
	for (size_t i = 0; i < sizeof(many); i += 2) {
		many[i] = 0xc0; /* tls = 448 = c0 03 */
		many[i + 1] = 0x03;
	}
	assert_int_equal(p2p_multiaddr_validate(many, sizeof(many)), P2P_ETOOBIG);
	assert_int_equal(p2p_multiaddr_validate(many, sizeof(many) - 2), P2P_OK);

	/* A value that would take the binary form over MAX_LEN. */
	memset(text, 0, sizeof(text));
	strcpy(text, "/dns/");
	memset(text + 5, 'a', P2P_MULTIADDR_MAX_LEN);
	p2p_buf_reset(&bin);
	assert_int_equal(p2p_multiaddr_parse(text, &bin), P2P_ETOOBIG);
	/* Just under the limit: code (1) + length varint (2) + value. */
	text[5 + P2P_MULTIADDR_MAX_LEN - 3] = '\0';
	assert_int_equal(p2p_multiaddr_parse(text, &bin), P2P_OK);
	assert_int_equal(bin.len, P2P_MULTIADDR_MAX_LEN);
	/* Over-long text. */
	memset(text, '/', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	p2p_buf_reset(&bin);
	assert_int_equal(p2p_multiaddr_parse(text, &bin), P2P_ETOOBIG);
	/* Binary over the limit. */
	static uint8_t big[P2P_MULTIADDR_MAX_LEN + 1];
	assert_int_equal(p2p_multiaddr_validate(big, sizeof(big)), P2P_ETOOBIG);
	p2p_buf_free(&bin);
}

static void test_iterate(void **state)
{
	p2p_buf bin;
	p2p_buf_init(&bin);
	assert_int_equal(
	    p2p_multiaddr_parse("/dns4/example.com/tcp/443/tls/sni/example.com/ws", &bin),
	    P2P_OK);
	static const uint64_t codes[] = {P2P_MA_DNS4, P2P_MA_TCP, P2P_MA_TLS, P2P_MA_SNI,
	                                 P2P_MA_WS};
	static const size_t lens[] = {11, 2, 0, 11, 0};
	size_t off = 0, i = 0;
	p2p_multiaddr_component c;
	int rc;
	while ((rc = p2p_multiaddr_next(bin.data, bin.len, &off, &c)) == 1) {
		assert_true(i < 5);
		assert_true(c.code == codes[i]);
		assert_int_equal(c.value_len, lens[i]);
		i++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(i, 5);
	assert_int_equal(off, bin.len);
	assert_string_equal(p2p_multiaddr_protocol_name(P2P_MA_QUIC_V1), "quic-v1");
	assert_string_equal(p2p_multiaddr_protocol_name(P2P_MA_P2P), "p2p");
	assert_null(p2p_multiaddr_protocol_name(7));
	p2p_buf_free(&bin);
}

static void test_append(void **state)
{
	p2p_buf bin, text;
	p2p_buf_init(&bin);
	p2p_buf_init(&text);
	static const uint8_t ip[4] = {10, 0, 0, 1}, port[2] = {0x1f, 0x90};
	assert_int_equal(p2p_multiaddr_append(&bin, P2P_MA_IP4, ip, 4), P2P_OK);
	assert_int_equal(p2p_multiaddr_append(&bin, P2P_MA_UDP, port, 2), P2P_OK);
	assert_int_equal(p2p_multiaddr_append(&bin, P2P_MA_QUIC_V1, NULL, 0), P2P_OK);
	assert_int_equal(
	    p2p_multiaddr_append(&bin, P2P_MA_DNS, (const uint8_t *)"a.b", 3), P2P_OK);
	assert_int_equal(p2p_multiaddr_to_string(bin.data, bin.len, &text), P2P_OK);
	assert_string_equal((const char *)text.data,
	                    "/ip4/10.0.0.1/udp/8080/quic-v1/dns/a.b");
	size_t len = bin.len;
	/* Wrong sizes, bad values, unknown codes leave bin alone. */
	assert_int_equal(p2p_multiaddr_append(&bin, P2P_MA_IP4, ip, 3), P2P_EINVAL);
	assert_int_equal(p2p_multiaddr_append(&bin, P2P_MA_TLS, ip, 1), P2P_EINVAL);
	assert_int_equal(
	    p2p_multiaddr_append(&bin, P2P_MA_DNS, (const uint8_t *)"a/b", 3),
	    P2P_EINVAL);
	assert_int_equal(p2p_multiaddr_append(&bin, P2P_MA_DNS, NULL, 0), P2P_EINVAL);
	assert_int_equal(p2p_multiaddr_append(&bin, 7, NULL, 0), P2P_EUNSUPPORTED);
	assert_int_equal(bin.len, len);
	p2p_buf_free(&text);
	p2p_buf_free(&bin);
}

static void test_sockaddr(void **state)
{
	p2p_buf bin, text;
	p2p_buf_init(&bin);
	p2p_buf_init(&text);
	struct sockaddr_storage ss;
	socklen_t sslen = 0;

	assert_int_equal(p2p_multiaddr_parse("/ip4/127.0.0.1/tcp/4001", &bin), P2P_OK);
	assert_int_equal(p2p_multiaddr_to_sockaddr(bin.data, bin.len, &ss, &sslen),
	                 P2P_OK);
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
	assert_int_equal(sslen, sizeof(*sin));
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 4001);
	assert_true(sin->sin_addr.s_addr == htonl(INADDR_LOOPBACK));
	/* And back. */
	p2p_buf again;
	p2p_buf_init(&again);
	assert_int_equal(
	    p2p_multiaddr_from_sockaddr((const struct sockaddr *)&ss, &again), P2P_OK);
	assert_int_equal(again.len, bin.len);
	assert_memory_equal(again.data, bin.data, bin.len);

	/* IPv6 with a trailing peer ID. */
	p2p_buf_reset(&bin);
	assert_int_equal(
	    p2p_multiaddr_parse("/ip6/::1/tcp/65535/p2p/"
	                        "12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV",
	                        &bin),
	    P2P_OK);
	assert_int_equal(p2p_multiaddr_to_sockaddr(bin.data, bin.len, &ss, &sslen),
	                 P2P_OK);
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
	assert_int_equal(sslen, sizeof(*sin6));
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 65535);
	assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	p2p_buf_reset(&again);
	assert_int_equal(
	    p2p_multiaddr_from_sockaddr((const struct sockaddr *)&ss, &again), P2P_OK);
	assert_int_equal(p2p_multiaddr_to_string(again.data, again.len, &text), P2P_OK);
	assert_string_equal((const char *)text.data, "/ip6/::1/tcp/65535");

	/* A v4-mapped IPv6 peer comes out as /ip4. */
	struct sockaddr_in6 mapped;
	memset(&mapped, 0, sizeof(mapped));
	mapped.sin6_family = AF_INET6;
	mapped.sin6_port = htons(80);
	assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.1", &mapped.sin6_addr), 1);
	p2p_buf_reset(&again);
	p2p_buf_reset(&text);
	assert_int_equal(
	    p2p_multiaddr_from_sockaddr((const struct sockaddr *)&mapped, &again),
	    P2P_OK);
	assert_int_equal(p2p_multiaddr_to_string(again.data, again.len, &text), P2P_OK);
	assert_string_equal((const char *)text.data, "/ip4/192.0.2.1/tcp/80");
	struct sockaddr unix_sa = {.sa_family = AF_UNIX};
	assert_int_equal(p2p_multiaddr_from_sockaddr(&unix_sa, &again), P2P_EUNSUPPORTED);

	/* Other shapes are not dialable over TCP. */
	static const char *other[] = {
	    "/ip4/127.0.0.1/udp/4001",
	    "/dns4/localhost/tcp/4001",
	    "/ip4/127.0.0.1",
	    "/ip4/127.0.0.1/tcp/4001/ws",
	    "/tcp/4001",
	    "/ip4/127.0.0.1/tcp/1/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/tls",
	    "/ip6zone/eth0/ip6/fe80::1/tcp/1",
	};
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		p2p_buf_reset(&bin);
		assert_int_equal(p2p_multiaddr_parse(other[i], &bin), P2P_OK);
		assert_int_equal(
		    p2p_multiaddr_to_sockaddr(bin.data, bin.len, &ss, &sslen),
		    P2P_EUNSUPPORTED);
	}
	static const uint8_t junk[] = {0x04, 0x7f};
	assert_int_equal(p2p_multiaddr_to_sockaddr(junk, sizeof(junk), &ss, &sslen),
	                 P2P_EPROTO);
	p2p_buf_free(&again);
	p2p_buf_free(&text);
	p2p_buf_free(&bin);
}

static void test_peer_id(void **state)
{
	static const char peer[] = "QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC";
	p2p_buf mh;
	p2p_buf_init(&mh);
	assert_int_equal(p2p_base58btc_decode(peer, strlen(peer), &mh), P2P_OK);

	p2p_buf bin, text;
	p2p_buf_init(&bin);
	p2p_buf_init(&text);
	assert_int_equal(p2p_multiaddr_parse("/ip4/1.2.3.4/tcp/5", &bin), P2P_OK);
	size_t base_len = bin.len;
	const uint8_t *id;
	size_t id_len;
	size_t prefix;
	assert_int_equal(p2p_multiaddr_peer_id(bin.data, bin.len, &id, &id_len),
	                 P2P_ENOTFOUND);
	assert_int_equal(p2p_multiaddr_without_peer_id(bin.data, bin.len, &prefix),
	                 P2P_OK);
	assert_int_equal(prefix, bin.len);

	assert_int_equal(p2p_multiaddr_append_peer_id(&bin, mh.data, mh.len), P2P_OK);
	assert_int_equal(p2p_multiaddr_to_string(bin.data, bin.len, &text), P2P_OK);
	assert_string_equal(
	    (const char *)text.data,
	    "/ip4/1.2.3.4/tcp/5/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC");
	assert_int_equal(p2p_multiaddr_peer_id(bin.data, bin.len, &id, &id_len), P2P_OK);
	assert_int_equal(id_len, mh.len);
	assert_memory_equal(id, mh.data, mh.len);
	assert_int_equal(p2p_multiaddr_without_peer_id(bin.data, bin.len, &prefix),
	                 P2P_OK);
	assert_int_equal(prefix, base_len);

	/* A relayed address: the peer is the one after the circuit. */
	p2p_buf_reset(&bin);
	assert_int_equal(
	    p2p_multiaddr_parse("/ip4/1.2.3.4/tcp/5/p2p/"
	                        "12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV/"
	                        "p2p-circuit/p2p/"
	                        "QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC",
	                        &bin),
	    P2P_OK);
	assert_int_equal(p2p_multiaddr_peer_id(bin.data, bin.len, &id, &id_len), P2P_OK);
	assert_int_equal(id_len, mh.len);
	assert_memory_equal(id, mh.data, mh.len);
	assert_int_equal(p2p_multiaddr_without_peer_id(bin.data, bin.len, &prefix),
	                 P2P_OK);
	p2p_buf_reset(&text);
	assert_int_equal(p2p_multiaddr_to_string(bin.data, prefix, &text), P2P_OK);
	assert_string_equal((const char *)text.data,
	                    "/ip4/1.2.3.4/tcp/5/p2p/"
	                    "12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4H"
	                    "f5mV/p2p-circuit");
	/* Only a peer ID: the prefix is empty. */
	p2p_buf_reset(&bin);
	assert_int_equal(p2p_multiaddr_parse(
	                     "/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC", &bin),
	                 P2P_OK);
	assert_int_equal(p2p_multiaddr_without_peer_id(bin.data, bin.len, &prefix),
	                 P2P_OK);
	assert_int_equal(prefix, 0);
	/* Not a peer ID multihash. */
	static const uint8_t sha512[] = {0x13, 0x01, 0x00};
	assert_int_equal(p2p_multiaddr_append_peer_id(&bin, sha512, sizeof(sha512)),
	                 P2P_EINVAL);
	p2p_buf_free(&text);
	p2p_buf_free(&bin);
	p2p_buf_free(&mh);
}

static void test_tcp(void **state)
{
	(void)state;
	struct {
		const char *text;
		int rc;
		uint64_t code;
		uint16_t port;
		bool has_id;
	} cases[] = {
	    {"/ip4/1.2.3.4/tcp/4001", P2P_OK, P2P_MA_IP4, 4001, false},
	    {"/ip6/::1/tcp/0", P2P_OK, P2P_MA_IP6, 0, false},
	    {"/ip4/1.2.3.4/tcp/80/p2p/"
	     "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
	     P2P_OK, P2P_MA_IP4, 80, true},
	    {"/ip4/1.2.3.4/udp/80", P2P_EINVAL, 0, 0, false},
	    {"/dns4/example.com/tcp/80", P2P_EINVAL, 0, 0, false},
	    {"/ip4/1.2.3.4/tcp/80/ws", P2P_EINVAL, 0, 0, false},
	    {"/ip4/1.2.3.4/tcp/80/p2p/"
	     "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/"
	     "p2p-circuit",
	     P2P_EINVAL, 0, 0, false},
	    {"/ip4/1.2.3.4", P2P_EINVAL, 0, 0, false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		p2p_buf b;
		p2p_buf_init(&b);
		assert_int_equal(p2p_multiaddr_parse(cases[i].text, &b), P2P_OK);
		p2p_multiaddr_component ip;
		uint16_t port = 1;
		size_t prefix = 0;
		assert_int_equal(p2p_multiaddr_tcp(b.data, b.len, &ip, &port, &prefix),
		                 cases[i].rc);
		if (cases[i].rc == P2P_OK) {
			assert_int_equal(ip.code, cases[i].code);
			assert_int_equal(port, cases[i].port);
			if (cases[i].has_id)
				assert_true(prefix < b.len);
			else
				assert_int_equal(prefix, b.len);
		}
		p2p_buf_free(&b);
	}
	assert_int_equal(p2p_multiaddr_tcp(NULL, 0, NULL, NULL, NULL), P2P_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tcp),        cmocka_unit_test(test_binary_vectors),
	    cmocka_unit_test(test_good),       cmocka_unit_test(test_bad_text),
	    cmocka_unit_test(test_bad_binary), cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_iterate),    cmocka_unit_test(test_append),
	    cmocka_unit_test(test_sockaddr),   cmocka_unit_test(test_peer_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
