/*
 * front.c
 *		The front door: event loops that own the listening socket.
 *
 * civetweb gives each open connection a thread of its own, so a client's
 * check costs two sleeps and wake-ups of that thread: for the request, then
 * for its result.  The clients' routes are most of the traffic, so the front
 * door answers them itself.  Each loop reads the requests of all its
 * connections, hands those that arrived together to its lane thread as one
 * batch (lanes.c) and writes the responses: one wake-up of each thread for
 * a whole batch, and while a batch runs in the database the loop reads the
 * next.
 *
 * Everything else (the admin API, the web UI, downloads, uploads, the live
 * websocket, and any request that is not a plain client request: chunked,
 * Expect, a query string, a body above 64 kB, ...) turns its connection into
 * a tunnel to civetweb, listening on a private loopback port, for the rest
 * of the connection's life.  civetweb learns the client's address from
 * front_peer(): the tunnel's local port maps to it, and civetweb turns away
 * connections that did not come through the front door.
 *
 * Each connection belongs to one loop; only that loop's thread touches it.
 */
#define _GNU_SOURCE				/* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_head.h"
#include "shim.h"

#define HEAD_MAX 8192			/* a request head above this goes to civetweb */
#define FRONT_BODY_MAX 65536	/* so does a body above this */
#define TUNNEL_BUF 65536		/* bytes buffered each way of a tunnel */
#define REQUEST_TIMEOUT_MS 30000	/* a request, or a response, stalled this long: closed */
#define LINGER_MS 2000			/* after a closing response, input is drained this long */

typedef enum ConnState
{
	CONN_HTTP,					/* requests answered here */
	CONN_CONNECTING,			/* tunnel being connected */
	CONN_TUNNEL,				/* bytes relayed to and from civetweb */
	CONN_LINGER					/* closing: our side shut, the client's input drained */
} ConnState;

struct Conn;

/* One socket of a connection, as epoll knows it. */
typedef struct Side
{
	struct Conn *conn;
	int			fd;
	uint32_t	events;			/* what epoll watches */
} Side;

typedef struct Loop Loop;

typedef struct Conn
{
	Loop	   *loop;
	ConnState	state;
	Side		client;
	Side		tunnel;			/* fd -1 unless tunnelled */
	int			tunnel_port;	/* its local port, in the peer table */
	char		peer[64];
	char	   *in;				/* from the client, not yet used */
	size_t		inlen,
				incap;
	char	   *out;			/* to the client, not yet written */
	size_t		outoff,
				outlen,
				outcap;
	size_t		reqlen;			/* bytes of in taken by the request in the lane */
	bool		busy;			/* its request is queued or in the lane */
	bool		closing;		/* close once out is written */
	bool		dead;			/* closed while busy: freed when its call returns */
	bool		served;			/* has answered a request */
	bool		client_eof;
	bool		tunnel_eof;
	char		path[64];		/* of the request in the lane (in may move) */
	double		last;			/* ms of the last progress */
	ClientRequest q;
	LaneCall	call;
	struct Conn *prev,
			   *next;
} Conn;

struct Loop
{
	pthread_t	thread;
	pthread_t	lane_thread;
	int			ep;
	int			done_fd;		/* eventfd: the lane thread finished a batch */
	Lane	   *lane;
	sem_t		work;			/* posted: a batch to run (or quit) */
	LaneCall   *queue,			/* calls waiting for the lane, in order */
			   *queue_tail;
	LaneCall   *running;		/* the batch the lane thread has */
	bool		lane_busy;
	volatile bool quit;
	double		listen_paused_until;
	Conn	   *conns;
	Conn	   *graveyard;		/* closed this round, freed at its end */
};

static int	listen_fd = -1;
static int	internal_port;
static long body_max;
static int	keep_ms;
static Loop *loops;
static int	nloops;

/* epoll tags that are not connections */
static char listen_tag,
			done_tag;

/* Tunnel local port -> client address, read by civetweb's threads. */
typedef struct Peer
{
	int			set;			/* atomic: ip is valid */
	char		ip[64];
} Peer;
static Peer peers[65536];

bool
front_peer(int port, char *out, size_t size)
{
	if (port <= 0 || port > 65535 || !__atomic_load_n(&peers[port].set, __ATOMIC_ACQUIRE))
		return false;
	snprintf(out, size, "%s", peers[port].ip);
	return true;
}

static void
watch(Loop *l, Side *s, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = s};

	if (s->fd < 0 || s->events == events)
		return;
	epoll_ctl(l->ep, EPOLL_CTL_MOD, s->fd, &ev);
	s->events = events;
}

/*
 * A closed connection leaves the loop's list for the graveyard, freed at the
 * end of the round: events of this round may still name it.
 */
static void
conn_bury(Conn *c)
{
	Loop	   *l = c->loop;

	if (c->prev)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = l->graveyard;
	l->graveyard = c;
}

static void
free_graveyard(Loop *l)
{
	while (l->graveyard)
	{
		Conn	   *c = l->graveyard;

		l->graveyard = c->next;
		free(c->in);
		free(c->out);
		free(c);
	}
}

/* Close a connection (and its tunnel); if its call is in the lane, bury it when it returns. */
static void
conn_close(Conn *c)
{
	if (c->dead)
		return;
	if (c->client.fd >= 0)
		close(c->client.fd);
	c->client.fd = -1;
	if (c->tunnel.fd >= 0)
	{
		__atomic_store_n(&peers[c->tunnel_port].set, 0, __ATOMIC_RELEASE);
		close(c->tunnel.fd);
	}
	c->tunnel.fd = -1;
	c->dead = true;
	if (!c->busy)
		conn_bury(c);
}

/* Room for n more bytes in a buffer. */
static bool
reserve(char **buf, size_t *cap, size_t len, size_t n)
{
	size_t		want = *cap ? *cap : 4096;
	char	   *b;

	if (len + n <= *cap)
		return true;
	while (want < len + n)
		want *= 2;
	b = realloc(*buf, want);
	if (b == NULL)
		return false;
	*buf = b;
	*cap = want;
	return true;
}

/* Send what the socket takes of [p, p + n): the bytes sent (0 if none), -1 if it failed. */
static ssize_t
send_some(int fd, const char *p, size_t n)
{
	size_t		done = 0;

	while (done < n)
	{
		ssize_t		k = send(fd, p + done, n - done, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (k <= 0)
			return -1;
		done += k;
	}
	return done;
}

/* Send what is pending to the client; false if the connection failed. */
static bool
flush_out(Conn *c)
{
	ssize_t		n = send_some(c->client.fd, c->out + c->outoff, c->outlen - c->outoff);

	if (n < 0)
		return false;
	if (n > 0)
	{
		c->outoff += n;
		c->last = now_ms();
	}
	if (c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	return true;
}

/* What the client's socket is watched for, from the connection's state. */
static void
rewatch_client(Conn *c)
{
	uint32_t	ev = 0;

	if (c->outlen > 0)
		ev |= EPOLLOUT;
	if (!c->client_eof && (c->state == CONN_LINGER ||
						   (c->state == CONN_HTTP && c->inlen < HEAD_MAX + FRONT_BODY_MAX) ||
						   (c->state != CONN_HTTP && c->inlen < TUNNEL_BUF)))
		ev |= EPOLLIN;
	watch(c->loop, &c->client, ev);
}

static void
rewatch_tunnel(Conn *c)
{
	uint32_t	ev = 0;

	if (c->state == CONN_CONNECTING || c->inlen > 0)
		ev |= EPOLLOUT;
	if (!c->tunnel_eof && c->outlen < TUNNEL_BUF)
		ev |= EPOLLIN;
	watch(c->loop, &c->tunnel, ev);
}

/* Stop sending; drain what the client still sends for a while, then close. */
static void
linger(Conn *c)
{
	shutdown(c->client.fd, SHUT_WR);
	c->state = CONN_LINGER;
	c->inlen = 0;
	c->last = now_ms();
	rewatch_client(c);
}

static void serve(Conn *c);

/*
 * A response for the client (nothing is pending before it: a request is
 * served only once the response before it is out).  What the socket does not
 * take now is kept and sent when it is writable.
 */
static void
answer(Conn *c, char *resp, size_t len)
{
	ssize_t		sent;

	c->served = true;
	c->closing = c->q.close;
	/* the request is used up */
	memmove(c->in, c->in + c->reqlen, c->inlen - c->reqlen);
	c->inlen -= c->reqlen;
	c->reqlen = 0;
	sent = resp ? send_some(c->client.fd, resp, len) : -1;
	if (sent < 0 || !reserve(&c->out, &c->outcap, c->outlen, len - sent))
	{
		free(resp);
		conn_close(c);
		return;
	}
	c->last = now_ms();
	if ((size_t) sent < len)
		memcpy(c->out, resp + sent, len - sent);
	c->outlen = len - sent;
	c->outoff = 0;
	free(resp);
	if (c->closing)
	{
		if (c->outlen == 0)
			linger(c);
		else
			rewatch_client(c);
		return;
	}
	rewatch_client(c);
	serve(c);
}

/*
 * The Content-Length of a complete request head (head_len bytes) if it is
 * up to FRONT_BODY_MAX and the client does not wait for a 100 Continue;
 * else 0.
 */
static long
small_body(const char *head, size_t head_len)
{
	const char *end = head + head_len;
	const char *p = memmem(head, head_len, "\r\n", 2);
	long		n = 0;

	while (p && (p += 2) < end)
	{
		const char *eol = memmem(p, end - p, "\r\n", 2);

		if (!eol)
			break;
		if (eol - p > 7 && strncasecmp(p, "Expect:", 7) == 0)
			return 0;
		if (eol - p > 15 && strncasecmp(p, "Content-Length:", 15) == 0)
		{
			char	   *e;

			n = strtol(p + 15, &e, 10);
			if (n < 0 || n > FRONT_BODY_MAX)
				return 0;
		}
		p = eol;
	}
	return n;
}

static void start_tunnel(Conn *c);

/*
 * Serve the connection's next request if it is in: a client request is
 * answered here (queued for the lane), anything else goes to civetweb.
 */
static void
serve(Conn *c)
{
	HttpHead	h;
	int			route = -1;
	size_t		len;
	char	   *resp;

	if (c->state != CONN_HTTP || c->busy || c->outlen > 0 || c->inlen == 0)
		return;
	switch (http_head_parse(c->in, c->inlen, HEAD_MAX, &h))
	{
		case HEAD_INCOMPLETE:
			return;
		case HEAD_CLIENT:
			if (h.content_length <= FRONT_BODY_MAX && h.content_length <= body_max)
			{
				h.path[h.path_len] = '\0';
				route = client_route("POST", h.path);
				h.path[h.path_len] = ' ';
			}
			break;
		case HEAD_OTHER:
			break;
	}
	if (route < 0)
	{
		long		body = h.head_len > 0 ? small_body(c->in, h.head_len) : 0;

		/*
		 * a body that fits is read here before civetweb sees the request: a
		 * client that sends half of one then waits holds no civetweb thread
		 */
		if (body > 0 && c->inlen < h.head_len + body)
		{
			if (!reserve(&c->in, &c->incap, c->inlen, h.head_len + body - c->inlen))
				conn_close(c);
			return;
		}
		start_tunnel(c);
		return;
	}
	if (c->inlen < h.head_len + h.content_length)
	{
		/* the body is still on its way */
		if (!reserve(&c->in, &c->incap, c->inlen, h.head_len + h.content_length - c->inlen))
			conn_close(c);
		return;
	}

	/* a client request, whole: its bytes are ours, so strings end in place */
	c->reqlen = h.head_len + h.content_length;
	snprintf(c->path, sizeof(c->path), "%.*s", (int) h.path_len, h.path);
	if (h.lang)
		h.lang[h.lang_len] = '\0';
	if (h.user_agent)
		h.user_agent[h.user_agent_len] = '\0';
	if (h.forwarded_for)
		h.forwarded_for[h.forwarded_for_len] = '\0';
	c->q.route = route;
	c->q.method = "POST";
	c->q.path = c->path;
	c->q.lang = i18n_lang(h.lang);
	c->q.keep = h.keep_alive;
	c->q.started = now_ms();
	resp = client_begin(&c->q, c->peer, h.forwarded_for, h.user_agent, c->in + h.head_len, h.content_length, &len);
	if (resp == NULL && c->q.arg == NULL)
	{
		conn_close(c);
		return;
	}
	if (resp)
	{
		answer(c, resp, len);	/* which serves what follows */
		return;
	}
	memset(&c->call, 0, sizeof(c->call));
	c->call.sql = client_statement(route);
	c->call.arg = c->q.arg;
	c->call.res = &c->q.res;
	c->call.shared = (routes[route].flags & ROUTE_SHARE_TX) != 0;
	if (c->loop->queue_tail)
		c->loop->queue_tail->next = &c->call;
	else
		c->loop->queue = &c->call;
	c->loop->queue_tail = &c->call;
	c->busy = true;
}

/* The bytes of the client's requests go to civetweb from now on. */
static void
start_tunnel(Conn *c)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(internal_port)};
	struct sockaddr_in me;
	socklen_t	melen = sizeof(me);
	struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN};
	int			fd;

	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *) &to, sizeof(to)) != 0 && errno != EINPROGRESS) ||
		getsockname(fd, (struct sockaddr *) &me, &melen) != 0 ||
		!reserve(&c->in, &c->incap, c->inlen, TUNNEL_BUF) || !reserve(&c->out, &c->outcap, 0, TUNNEL_BUF))
	{
		if (fd >= 0)
			close(fd);
		conn_close(c);
		return;
	}
	/* civetweb reads a request only after this is set */
	c->tunnel_port = ntohs(me.sin_port);
	snprintf(peers[c->tunnel_port].ip, sizeof(peers[c->tunnel_port].ip), "%s", c->peer);
	__atomic_store_n(&peers[c->tunnel_port].set, 1, __ATOMIC_RELEASE);
	c->tunnel.fd = fd;
	c->tunnel.conn = c;
	c->tunnel.events = ev.events;
	ev.data.ptr = &c->tunnel;
	epoll_ctl(c->loop->ep, EPOLL_CTL_ADD, fd, &ev);
	c->state = CONN_CONNECTING;
	rewatch_client(c);
}

/* Relay: client bytes to civetweb; false if the connection is over. */
static bool
tunnel_send(Conn *c)
{
	ssize_t		n = send_some(c->tunnel.fd, c->in, c->inlen);

	if (n < 0)
		return false;
	memmove(c->in, c->in + n, c->inlen - n);
	c->inlen -= n;
	if (c->inlen == 0 && c->client_eof)
		shutdown(c->tunnel.fd, SHUT_WR);
	return true;
}

static void
client_event(Conn *c, uint32_t events)
{
	if (events & EPOLLOUT)
	{
		if (!flush_out(c))
		{
			conn_close(c);
			return;
		}
		if (c->state == CONN_HTTP && c->outlen == 0)
		{
			if (c->closing)
			{
				linger(c);
				return;
			}
			/* a request that waited for the response before it */
			serve(c);
			if (c->dead)
				return;
		}
		if (c->state == CONN_TUNNEL && c->outlen == 0 && c->tunnel_eof)
		{
			conn_close(c);
			return;
		}
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
	{
		size_t		room;
		ssize_t		n;

		if (c->state == CONN_LINGER)
		{
			char		sink[4096];

			n = recv(c->client.fd, sink, sizeof(sink), 0);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				conn_close(c);
			return;
		}
		if (c->state == CONN_HTTP)
		{
			if (!reserve(&c->in, &c->incap, c->inlen, 2048))
			{
				conn_close(c);
				return;
			}
			room = c->incap - c->inlen;
		}
		else
			room = c->inlen < TUNNEL_BUF ? TUNNEL_BUF - c->inlen : 0;
		n = room ? recv(c->client.fd, c->in + c->inlen, room, 0) : -1;
		if (n == 0 || (n < 0 && room && errno != EAGAIN && errno != EINTR))
		{
			if (c->state == CONN_HTTP || n < 0)
			{
				conn_close(c);
				return;
			}
			/* the client is done sending: civetweb still answers */
			c->client_eof = true;
			if (c->state == CONN_TUNNEL && !tunnel_send(c))
			{
				conn_close(c);
				return;
			}
		}
		else if (n > 0)
		{
			c->inlen += n;
			c->last = now_ms();
			if (c->state == CONN_HTTP)
				serve(c);
			else if (c->state == CONN_TUNNEL && !tunnel_send(c))
			{
				conn_close(c);
				return;
			}
		}
	}
	if (c->client.fd >= 0 && !c->dead)
	{
		rewatch_client(c);
		if (c->tunnel.fd >= 0)
			rewatch_tunnel(c);
	}
}

static void
tunnel_event(Conn *c, uint32_t events)
{
	if (c->state == CONN_CONNECTING)
	{
		int			err = 0;
		socklen_t	elen = sizeof(err);

		if (getsockopt(c->tunnel.fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0)
		{
			conn_close(c);
			return;
		}
		if (!(events & (EPOLLOUT | EPOLLIN)))
			return;
		c->state = CONN_TUNNEL;
	}
	if ((events & EPOLLOUT) && !tunnel_send(c))
	{
		conn_close(c);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
	{
		size_t		room = TUNNEL_BUF - c->outlen;
		ssize_t		n = room ? recv(c->tunnel.fd, c->out + c->outlen, room, 0) : -1;

		if (n > 0)
		{
			c->outlen += n;
			c->last = now_ms();
		}
		else if (room && (n == 0 || (errno != EAGAIN && errno != EINTR)))
			c->tunnel_eof = true;
		if (!flush_out(c) || (c->tunnel_eof && c->outlen == 0))
		{
			conn_close(c);
			return;
		}
	}
	rewatch_client(c);
	rewatch_tunnel(c);
}

static void
accept_all(Loop *l)
{
	for (int i = 0; i < 64; i++)
	{
		struct sockaddr_storage addr;
		socklen_t	alen = sizeof(addr);
		int			fd = accept4(listen_fd, (struct sockaddr *) &addr, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int			one = 1;
		Conn	   *c;
		struct epoll_event ev = {.events = EPOLLIN};

		if (fd < 0)
		{
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			{
				/* out of descriptors: stop accepting for a moment rather than spin */
				epoll_ctl(l->ep, EPOLL_CTL_DEL, listen_fd, NULL);
				l->listen_paused_until = now_ms() + 100;
			}
			return;
		}
		c = calloc(1, sizeof(Conn));
		if (c == NULL)
		{
			close(fd);
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->loop = l;
		c->client.conn = c;
		c->client.fd = fd;
		c->client.events = EPOLLIN;
		c->tunnel.conn = c;
		c->tunnel.fd = -1;
		c->last = now_ms();
		if (addr.ss_family == AF_INET6)
		{
			struct sockaddr_in6 *a6 = (struct sockaddr_in6 *) &addr;

			if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
				inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], c->peer, sizeof(c->peer));
			else
				inet_ntop(AF_INET6, &a6->sin6_addr, c->peer, sizeof(c->peer));
		}
		else
			inet_ntop(AF_INET, &((struct sockaddr_in *) &addr)->sin_addr, c->peer, sizeof(c->peer));
		c->next = l->conns;
		if (l->conns)
			l->conns->prev = c;
		l->conns = c;
		ev.data.ptr = &c->client;
		epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev);
	}
}

/* Hand the lane thread the next batch, if it is free and calls wait. */
static void
dispatch(Loop *l)
{
	if (l->lane_busy || l->queue == NULL)
		return;
	l->running = l->queue;
	l->queue = lanes_cut_batch(l->running);
	if (l->queue == NULL)
		l->queue_tail = NULL;
	l->lane_busy = true;
	sem_post(&l->work);
}

/* The lane thread finished its batch: answer each call's client. */
static void
batch_done(Loop *l)
{
	uint64_t	v;
	LaneCall   *call,
			   *next;

	while (read(l->done_fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	for (call = l->running; call; call = next)
	{
		Conn	   *c = (Conn *) ((char *) call - offsetof(Conn, call));
		size_t		len = 0;
		char	   *resp;

		next = call->next;
		resp = client_end(&c->q, call->out, &len);
		c->busy = false;
		if (c->dead)
		{
			free(resp);
			conn_bury(c);
			continue;
		}
		answer(c, resp, len);
	}
	l->running = NULL;
	l->lane_busy = false;
}

static void *
lane_main(void *arg)
{
	Loop	   *l = arg;
	uint64_t	one = 1;

	for (;;)
	{
		while (sem_wait(&l->work) != 0 && errno == EINTR)
			;
		if (l->running == NULL)
			break;				/* quit */
		lanes_run(l->lane, l->running);
		while (write(l->done_fd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
	return NULL;
}

/* Close idle and stalled connections. */
static void
sweep(Loop *l, double now)
{
	Conn	   *c,
			   *next;

	if (l->listen_paused_until > 0 && now >= l->listen_paused_until)
	{
		struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &listen_tag};

		epoll_ctl(l->ep, EPOLL_CTL_ADD, listen_fd, &ev);
		l->listen_paused_until = 0;
	}
	for (c = l->conns; c; c = next)
	{
		double		idle = now - c->last;

		next = c->next;
		if (c->busy || c->dead)
			continue;
		if ((c->state == CONN_LINGER && idle > LINGER_MS) ||
			(c->state == CONN_HTTP && c->outlen > 0 && idle > REQUEST_TIMEOUT_MS) ||
			(c->state == CONN_HTTP && c->inlen == 0 && c->served && idle > keep_ms) ||
			(c->state == CONN_HTTP && idle > REQUEST_TIMEOUT_MS) ||
			(c->state == CONN_CONNECTING && idle > REQUEST_TIMEOUT_MS))
			conn_close(c);
	}
}

static void *
loop_main(void *arg)
{
	Loop	   *l = arg;
	struct epoll_event events[128];
	double		last_sweep = now_ms();

	while (!l->quit)
	{
		int			n = epoll_wait(l->ep, events, 128, 250);
		double		now;

		for (int i = 0; i < n; i++)
		{
			void	   *tag = events[i].data.ptr;

			if (tag == &listen_tag)
				accept_all(l);
			else if (tag == &done_tag)
				batch_done(l);
			else
			{
				Side	   *s = tag;
				Conn	   *c = s->conn;

				/* an earlier event of this round may have closed it */
				if (s->fd < 0 || c->dead)
					continue;
				if (s == &c->client)
					client_event(c, events[i].events);
				else
					tunnel_event(c, events[i].events);
			}
		}
		dispatch(l);
		free_graveyard(l);
		now = now_ms();
		if (now - last_sweep >= 250)
		{
			sweep(l, now);
			last_sweep = now;
		}
	}
	/* stopping: the calls given to the lane are answered, then everything closes */
	while (l->lane_busy || l->queue)
	{
		dispatch(l);
		batch_done(l);
	}
	l->running = NULL;
	sem_post(&l->work);
	pthread_join(l->lane_thread, NULL);
	while (l->conns)
	{
		Conn	   *c = l->conns;

		if (c->busy)
		{
			/* never given to the lane: nobody will answer it */
			free(c->q.arg);
			db_result_free(&c->q.res);
			c->busy = false;
		}
		conn_close(c);
	}
	free_graveyard(l);
	return NULL;
}

/* Listen on addr ("host:port", "[v6]:port" or "port"); -1 if it cannot. */
static int
listen_on(const char *addr)
{
	char		host[256];
	const char *port;
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *res = NULL;
	int			fd = -1;
	int			one = 1;

	if (colon == NULL)
	{
		host[0] = '\0';
		port = addr;
	}
	else
	{
		size_t		n = colon - addr;

		if (n >= sizeof(host))
			return -1;
		memcpy(host, addr, n);
		host[n] = '\0';
		if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
		{
			memmove(host, host + 1, n - 2);
			host[n - 2] = '\0';
		}
		port = colon + 1;
	}
	if (*port == '\0' || strspn(port, "0123456789") != strlen(port) ||
		getaddrinfo(host[0] ? host : NULL, port, &hints, &res) != 0)
		return -1;
	/* IPv4 first: "localhost" then answers at 127.0.0.1, as civetweb did */
	for (int pass = 0; pass < 2; pass++)
	{
		for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next)
		{
			if ((a->ai_family == AF_INET) != (pass == 0))
				continue;
			fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
			if (fd < 0)
				continue;
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 1024) != 0)
			{
				close(fd);
				fd = -1;
			}
		}
	}
	freeaddrinfo(res);
	return fd;
}

/*
 * Listen on listen_addr with n loops, each with its own lane; what is not a
 * client request goes to civetweb on 127.0.0.1:internal.  0 on success.
 */
int
front_start(const char *listen_addr, int internal, int n, long max_body, int keep_alive_ms)
{
	internal_port = internal;
	body_max = max_body;
	keep_ms = keep_alive_ms;
	listen_fd = listen_on(listen_addr);
	if (listen_fd < 0)
		return -1;
	loops = calloc(n, sizeof(Loop));
	nloops = n;
	for (int i = 0; i < n; i++)
	{
		Loop	   *l = &loops[i];
		struct epoll_event lev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &listen_tag};
		struct epoll_event dev = {.events = EPOLLIN, .data.ptr = &done_tag};

		l->ep = epoll_create1(EPOLL_CLOEXEC);
		l->done_fd = eventfd(0, EFD_CLOEXEC);
		l->lane = lanes_new();
		sem_init(&l->work, 0, 0);
		if (l->ep < 0 || l->done_fd < 0 || l->lane == NULL ||
			epoll_ctl(l->ep, EPOLL_CTL_ADD, listen_fd, &lev) != 0 ||
			epoll_ctl(l->ep, EPOLL_CTL_ADD, l->done_fd, &dev) != 0 ||
			pthread_create(&l->lane_thread, NULL, lane_main, l) != 0)
			return -1;
		if (pthread_create(&l->thread, NULL, loop_main, l) != 0)
			return -1;
	}
	return 0;
}

/* Stop listening; each loop answers what it gave its lane, then closes its connections. */
void
front_stop(void)
{
	for (int i = 0; i < nloops; i++)
		loops[i].quit = true;
	for (int i = 0; i < nloops; i++)
	{
		Loop	   *l = &loops[i];

		pthread_join(l->thread, NULL);
		close(l->ep);
		close(l->done_fd);
		sem_destroy(&l->work);
		lanes_free(l->lane);
	}
	if (listen_fd >= 0)
		close(listen_fd);
	listen_fd = -1;
	free(loops);
	loops = NULL;
	nloops = 0;
}
