/*
 * client_port.c
 *		The client address (--client-listen): event loops that answer the
 *		clients' routes and nothing else.
 *
 * civetweb gives each open connection a thread of its own, so on the main
 * address a client's check costs two sleeps and wake-ups of that thread:
 * for the request, then for its result.  The clients' routes are most of
 * the traffic of a large fleet, so they can have an address of their own,
 * where each loop reads the requests of all its connections, queues those
 * that arrived together on its lane as one batch (lanes.c, the scheduler
 * civetweb's threads use too) and writes the responses: one wake-up of
 * each thread for a whole batch, and while a batch runs in the database the
 * loop reads the next.  Requests take the same path as on the main address
 * (client_begin, a lane, client_end in request.c); only the socket differs.
 *
 * Anything that is not a plain client request (another route, chunked,
 * a query string, a body above 64 kB, ...) is answered with an error that
 * points to the main address.  Each connection belongs to one loop; only
 * that loop's thread touches it.
 */
#define _GNU_SOURCE				/* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
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

#include "client_port.h"
#include "config.h"
#include "http_head.h"
#include "i18n.h"
#include "lanes.h"
#include "request.h"
#include "respond.h"
#include "routes.h"

#define HEAD_MAX 8192			/* a request head above this is refused */
#define CLIENT_BODY_MAX 65536	/* so is a body above this */
#define REQUEST_TIMEOUT_MS 30000	/* a request, or a response, stalled this long: closed */
#define LINGER_MS 2000			/* after a closing response, input is drained this long */

typedef enum ConnState
{
	CONN_HTTP,					/* requests answered */
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
	bool		continued;		/* "100 Continue" sent for the request being read */
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
	int			index;			/* its lane's */
	int			ep;
	int			done_fd;		/* eventfd: the lane answered calls of this loop */
	LaneCall   *queue,			/* calls read this round, for the lane */
			   *queue_tail;
	LaneCall   *answered;		/* pushed by the lane's thread (atomic), newest first */
	int			pending;		/* calls given to the lane and not answered yet */
	volatile bool quit;
	double		listen_paused_until;
	Conn	   *conns;
	Conn	   *graveyard;		/* closed this round, freed at its end */
};

static int	listen_fd = -1;
static Loop *loops;
static int	nloops;

/* epoll tags that are not connections */
static char listen_tag,
			done_tag;

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

/* Close a connection; if its call is in the lane, bury it when it returns. */
static void
conn_close(Conn *c)
{
	if (c->dead)
		return;
	if (c->client.fd >= 0)
		close(c->client.fd);
	c->client.fd = -1;
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
	if (c->state == CONN_LINGER || c->inlen < HEAD_MAX + CLIENT_BODY_MAX)
		ev |= EPOLLIN;
	watch(c->loop, &c->client, ev);
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

/* Answer, without a call, a request this address does not serve, and close. */
static void
refuse(Conn *c, int status, const char *key, const char *lang)
{
	DbResult	res = {0};
	size_t		blen = 0,
				len = 0;
	bool		closes;
	char	   *body,
			   *resp;

	char		method[16] = "-",
				target[256] = "-";
	const char *line_end = memchr(c->in, '\n', c->inlen);

	/* the request line's method and target, for the access log, if it came whole */
	if (line_end)
	{
		const char *sp = memchr(c->in, ' ', line_end - c->in);
		const char *sp2 = sp ? memchr(sp + 1, ' ', line_end - sp - 1) : NULL;

		if (sp && sp2 && sp - c->in < (long) sizeof(method) && sp2 - sp - 1 < (long) sizeof(target))
		{
			snprintf(method, sizeof(method), "%.*s", (int) (sp - c->in), c->in);
			snprintf(target, sizeof(target), "%.*s", (int) (sp2 - sp - 1), sp + 1);
			target[strcspn(target, "?")] = '\0';
		}
	}
	result_set_request_error(&res, status, key, NULL);
	body = respond_body(lang, &res, &blen);
	resp = body ? respond_bytes(status, body, blen, false, NULL, &len, &closes) : NULL;
	respond_done(-1, status, now_ms(), method, target, c->peer);
	free(body);
	result_free(&res);
	c->reqlen = c->inlen;
	c->q.close = true;
	answer(c, resp, len);
}

static void call_done(LaneCall *call);

/*
 * Serve the connection's next request if it is in: a client request is
 * queued for the lane; anything else is refused.
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
			h.path[h.path_len] = '\0';
			route = routes_client("POST", h.path);
			h.path[h.path_len] = ' ';
			break;
		case HEAD_OTHER:
			break;
	}
	if (h.lang)
		h.lang[h.lang_len] = '\0';
	if (route < 0)
	{
		char		lang[32];

		/* a head this address does not read: its Accept-Language still counts */
		if (h.lang == NULL && http_head_value(c->in, c->inlen, HEAD_MAX, "Accept-Language", lang, sizeof(lang)))
			h.lang = lang;
		refuse(c, 404, "client_port_only", i18n_lang(h.lang));
		return;
	}
	if (h.content_length > CLIENT_BODY_MAX || h.content_length > config.max_body)
	{
		refuse(c, 413, "body_too_large", i18n_lang(h.lang));
		return;
	}
	if (c->inlen < h.head_len + h.content_length)
	{
		/* the body is still on its way */
		if (h.expect_continue && !c->continued)
		{
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

			c->continued = true;
			if (send_some(c->client.fd, cont, sizeof(cont) - 1) != (ssize_t) sizeof(cont) - 1)
				conn_close(c);
		}
		else if (!reserve(&c->in, &c->incap, c->inlen, h.head_len + h.content_length - c->inlen))
			conn_close(c);
		return;
	}

	/* a client request, whole: its bytes are ours, so strings end in place */
	c->continued = false;
	c->reqlen = h.head_len + h.content_length;
	snprintf(c->path, sizeof(c->path), "%.*s", (int) h.path_len, h.path);
	if (h.user_agent)
		h.user_agent[h.user_agent_len] = '\0';
	if (h.forwarded_for)
		h.forwarded_for[h.forwarded_for_len] = '\0';
	c->q.route = route;
	c->q.method = "POST";
	c->q.path = c->path;
	c->q.lang = i18n_lang(h.lang);
	c->q.keep = h.keep_alive;
	c->q.admitted = false;
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
	c->call.sql = client_statement(&c->q);
	c->call.arg = c->q.arg;
	c->call.res = &c->q.res;
	c->call.shared = (routes[route].flags & ROUTE_SHARE_TX) != 0;
	c->call.primary = client_on_primary(route);
	c->call.done = call_done;
	if (c->loop->queue_tail)
		c->loop->queue_tail->next = &c->call;
	else
		c->loop->queue = &c->call;
	c->loop->queue_tail = &c->call;
	c->busy = true;
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
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
	{
		ssize_t		n;

		if (c->state == CONN_LINGER)
		{
			char		sink[4096];

			n = recv(c->client.fd, sink, sizeof(sink), 0);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				conn_close(c);
			return;
		}
		if (!reserve(&c->in, &c->incap, c->inlen, 2048))
		{
			conn_close(c);
			return;
		}
		n = recv(c->client.fd, c->in + c->inlen, c->incap - c->inlen, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		{
			conn_close(c);
			return;
		}
		if (n > 0)
		{
			c->inlen += n;
			c->last = now_ms();
			serve(c);
		}
	}
	if (c->client.fd >= 0 && !c->dead)
		rewatch_client(c);
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

/*
 * On the lane's thread: a call of this loop is answered.  The first one
 * pushed since the loop last looked wakes it; the loop answers them all.
 */
static void
call_done(LaneCall *call)
{
	Conn	   *c = (Conn *) ((char *) call - offsetof(Conn, call));
	Loop	   *l = c->loop;
	LaneCall   *head = __atomic_load_n(&l->answered, __ATOMIC_ACQUIRE);
	uint64_t	one = 1;

	do
		call->next = head;
	while (!__atomic_compare_exchange_n(&l->answered, &head, call, true, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	if (head == NULL)
		while (write(l->done_fd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
}

/* Give the lane the calls read this round, as one submission. */
static void
dispatch(Loop *l)
{
	int			n = 0;

	if (l->queue == NULL)
		return;
	for (LaneCall *c = l->queue; c; c = c->next)
		n++;
	l->pending += n;
	lanes_submit(l->index, l->queue);
	l->queue = l->queue_tail = NULL;
}

/* The lane answered calls of this loop: answer each call's client, in order. */
static void
calls_answered(Loop *l)
{
	uint64_t	v;
	LaneCall   *call,
			   *next,
			   *ordered = NULL;

	while (read(l->done_fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	/* newest first: reverse */
	for (call = __atomic_exchange_n(&l->answered, NULL, __ATOMIC_ACQ_REL); call; call = next)
	{
		next = call->next;
		call->next = ordered;
		ordered = call;
	}
	for (call = ordered; call; call = next)
	{
		Conn	   *c = (Conn *) ((char *) call - offsetof(Conn, call));
		size_t		len = 0;
		char	   *resp;

		next = call->next;
		call->next = NULL;
		l->pending--;
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
			(c->state == CONN_HTTP && c->inlen == 0 && c->served && idle > config.keep_alive_ms) ||
			(c->state == CONN_HTTP && idle > REQUEST_TIMEOUT_MS))
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
				calls_answered(l);
			else
			{
				Side	   *s = tag;
				Conn	   *c = s->conn;

				/* an earlier event of this round may have closed it */
				if (s->fd < 0 || c->dead)
					continue;
				client_event(c, events[i].events);
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
	dispatch(l);
	while (l->pending > 0)
	{
		struct pollfd p = {.fd = l->done_fd, .events = POLLIN};

		if (poll(&p, 1, 1000) > 0)
			calls_answered(l);
	}
	while (l->conns)
		conn_close(l->conns);
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

/* Listen on addr with n loops, loop i queueing on lane i.  0 on success. */
int
client_port_start(const char *addr, int n)
{
	listen_fd = listen_on(addr);
	if (listen_fd < 0)
		return -1;
	loops = calloc(n, sizeof(Loop));
	nloops = n;
	for (int i = 0; i < n; i++)
	{
		Loop	   *l = &loops[i];
		struct epoll_event lev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &listen_tag};
		struct epoll_event dev = {.events = EPOLLIN, .data.ptr = &done_tag};

		l->index = i;
		l->ep = epoll_create1(EPOLL_CLOEXEC);
		l->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (l->ep < 0 || l->done_fd < 0 ||
			epoll_ctl(l->ep, EPOLL_CTL_ADD, listen_fd, &lev) != 0 ||
			epoll_ctl(l->ep, EPOLL_CTL_ADD, l->done_fd, &dev) != 0 ||
			pthread_create(&l->thread, NULL, loop_main, l) != 0)
			return -1;
	}
	return 0;
}

/* Stop listening; each loop answers what it gave its lane, then closes its connections. */
void
client_port_stop(void)
{
	for (int i = 0; i < nloops; i++)
		loops[i].quit = true;
	for (int i = 0; i < nloops; i++)
	{
		pthread_join(loops[i].thread, NULL);
		close(loops[i].ep);
		close(loops[i].done_fd);
	}
	if (listen_fd >= 0)
		close(listen_fd);
	listen_fd = -1;
	free(loops);
	loops = NULL;
	nloops = 0;
}
