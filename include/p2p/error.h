/* Error codes shared by every module: 0 is success, failures are negative. */
#ifndef P2P_ERROR_H
#define P2P_ERROR_H

enum {
	P2P_OK = 0,
	P2P_ENOMEM = -1,  /* allocation failed */
	P2P_EINVAL = -2,  /* bad argument from the caller */
	P2P_EPROTO = -3,  /* the peer broke the protocol (malformed input) */
	P2P_EAGAIN = -4,  /* not enough input yet; feed more bytes */
	P2P_ETOOBIG = -5, /* a length exceeds its limit */
	P2P_EUNSUPPORTED =
	    -6,               /* well-formed but not supported (unknown code, key type) */
	P2P_ECRYPTO = -7,     /* signature, MAC or key check failed */
	P2P_ECLOSED = -8,     /* the connection or stream is closed */
	P2P_ELIMIT = -9,      /* a configured limit was reached (streams, peers) */
	P2P_EPEERID = -10,    /* the remote is not the peer we expected */
	P2P_ENOTFOUND = -11,  /* no such item (protocol, stream, peer) */
	P2P_ETIMEDOUT = -12,  /* a deadline passed */
	P2P_EIO = -13,        /* the operating system reported an I/O error */
	P2P_ESTATE = -14,     /* call not valid in the current state */
	P2P_ERESET = -15,     /* the remote reset the stream or connection */
	P2P_ENEGOTIATE = -16, /* no common protocol */
	P2P_EADDRINUSE = -17, /* the local port, or the connection's 4-tuple, is taken */
};

/* A static, human-readable sentence for an error code; never NULL. */
const char *p2p_strerror(int err);

#endif
