/* Dialable addresses from the bound ones (addrs.h). */
#include "tunnel/addrs.h"

#include <netinet/in.h>
#include <string.h>
#include <uv.h>

#include "p2p/error.h"
#include "p2p/multiaddr.h"

bool tunnel_addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) ==
		       127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

static bool is_any(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr ==
		       htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

typedef struct addr_list {
	p2p_buf *v;
	size_t n, max;
} addr_list;

/* Appends a copy of a[0..len) unless the list has it or is full. */
static void list_add(addr_list *l, const uint8_t *a, size_t len)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].len == len && memcmp(l->v[i].data, a, len) == 0)
			return;
	if (l->n == l->max)
		return;
	p2p_buf_init(&l->v[l->n]);
	if (p2p_buf_append(&l->v[l->n], a, len) == P2P_OK)
		l->n++;
	else
		p2p_buf_free(&l->v[l->n]);
}

static void list_add_sockaddr(addr_list *l, const struct sockaddr *sa)
{
	p2p_buf ma;
	p2p_buf_init(&ma);
	if (p2p_multiaddr_from_sockaddr(sa, &ma) == P2P_OK)
		list_add(l, ma.data, ma.len);
	p2p_buf_free(&ma);
}

/* The interface addresses of bound's family, on bound's port, that are
 * loopback or not as asked. */
static void add_interfaces(addr_list *l, const struct sockaddr_storage *bound,
                           const uv_interface_address_t *ifs, int n_ifs,
                           bool want_loopback)
{
	for (int j = 0; j < n_ifs; j++) {
		struct sockaddr_storage a;
		memset(&a, 0, sizeof a);
		if (ifs[j].address.address4.sin_family != bound->ss_family)
			continue;
		if (bound->ss_family == AF_INET) {
			struct sockaddr_in *a4 = (struct sockaddr_in *)&a;
			memcpy(a4, &ifs[j].address.address4, sizeof *a4);
			a4->sin_port = ((const struct sockaddr_in *)bound)->sin_port;
		} else {
			struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&a;
			memcpy(a6, &ifs[j].address.address6, sizeof *a6);
			if (IN6_IS_ADDR_LINKLOCAL(&a6->sin6_addr))
				continue;
			a6->sin6_port = ((const struct sockaddr_in6 *)bound)->sin6_port;
		}
		if (tunnel_addr_is_loopback((struct sockaddr *)&a) == want_loopback)
			list_add_sockaddr(l, (struct sockaddr *)&a);
	}
}

/* One pass over the bound addresses: the loopback ones or the others.
 * Addresses that are no IP socket address go with the others. */
static void add_pass(addr_list *l, const p2p_buf *const *bound, size_t n,
                     const uv_interface_address_t *ifs, int n_ifs, bool want_loopback)
{
	for (size_t i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		socklen_t sl;
		if (p2p_multiaddr_to_sockaddr(bound[i]->data, bound[i]->len, &ss, &sl) <
		    0) {
			if (!want_loopback)
				list_add(l, bound[i]->data, bound[i]->len);
			continue;
		}
		if (is_any(&ss))
			add_interfaces(l, &ss, ifs, n_ifs, want_loopback);
		else if (tunnel_addr_is_loopback((struct sockaddr *)&ss) == want_loopback)
			list_add(l, bound[i]->data, bound[i]->len);
	}
}

size_t tunnel_addrs_dialable(const p2p_host *h, unsigned which, p2p_buf *out, size_t max)
{
	const p2p_buf *bound[P2P_HOST_MAX_LISTENERS];
	size_t n = p2p_host_addrs(h, bound, P2P_HOST_MAX_LISTENERS);
	if (n > P2P_HOST_MAX_LISTENERS)
		n = P2P_HOST_MAX_LISTENERS;
	uv_interface_address_t *ifs = NULL;
	int n_ifs = 0;
	if (uv_interface_addresses(&ifs, &n_ifs) < 0) {
		ifs = NULL;
		n_ifs = 0;
	}
	addr_list l = {.v = out, .max = max};
	if (which & TUNNEL_ADDRS_OTHER)
		add_pass(&l, bound, n, ifs, n_ifs, false);
	if (which & TUNNEL_ADDRS_LOOPBACK)
		add_pass(&l, bound, n, ifs, n_ifs, true);
	uv_free_interface_addresses(ifs, n_ifs);
	return l.n;
}

void tunnel_addrs_free(p2p_buf *addrs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p2p_buf_free(&addrs[i]);
}
