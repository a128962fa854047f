#include "p2p/error.h"

const char *p2p_strerror(int err)
{
	switch (err) {
	case P2P_OK:
		return "success";
	case P2P_ENOMEM:
		return "out of memory";
	case P2P_EINVAL:
		return "invalid argument";
	case P2P_EPROTO:
		return "protocol violation by the peer";
	case P2P_EAGAIN:
		return "more input needed";
	case P2P_ETOOBIG:
		return "length exceeds limit";
	case P2P_EUNSUPPORTED:
		return "not supported";
	case P2P_ECRYPTO:
		return "cryptographic check failed";
	case P2P_ECLOSED:
		return "closed";
	case P2P_ELIMIT:
		return "limit reached";
	case P2P_EPEERID:
		return "unexpected peer ID";
	case P2P_ENOTFOUND:
		return "not found";
	case P2P_ETIMEDOUT:
		return "timed out";
	case P2P_EIO:
		return "I/O error";
	case P2P_ESTATE:
		return "invalid in current state";
	case P2P_ERESET:
		return "reset by peer";
	case P2P_ENEGOTIATE:
		return "no common protocol";
	case P2P_EADDRINUSE:
		return "address already in use";
	default:
		return "unknown error";
	}
}
