/* The egress proxy's side of a handoff (src/egress/handoff.c): what a first message may carry
 * (no fd, one, several, more than fit) and which passed fds are the code's TCP connection. Real
 * sockets on loopback; every case also checks that no fd is left open. */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/egress_handoff.h"
#include "airlock/egress_port.h"

static int open_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        int n = 0;

        ck_assert_ptr_nonnull(d);
        while ((e = readdir(d)))
                n += e->d_name[0] != '.';
        closedir(d);
        return n - 1; /* the directory's own fd */
}

/* Send one byte with fds attached (n of them) on sock. */
static void send_fds(int sock, unsigned char byte, const int *fds, size_t n)
{
        char ctl[CMSG_SPACE(sizeof(int) * 16)] = {0};
        struct iovec iov = {.iov_base = &byte, .iov_len = 1};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        struct cmsghdr *c;

        if (n > 0) {
                msg.msg_control = ctl;
                msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
                c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
        }
        ck_assert_int_eq(sendmsg(sock, &msg, MSG_NOSIGNAL), 1);
}

/* A listening TCP socket on 127.0.0.1 (port in *port), and a connected pair through it. */
static int tcp_listener(struct sockaddr_in *sa)
{
        socklen_t l = sizeof(*sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        *sa =
            (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)sa, sizeof(*sa)), 0);
        ck_assert_int_eq(listen(fd, 4), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)sa, &l), 0);
        return fd;
}

static void tcp_pair(int *client, int *server)
{
        struct sockaddr_in sa;
        _cleanup_close_ int l = tcp_listener(&sa);

        *client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_eq(connect(*client, (struct sockaddr *)&sa, sizeof(sa)), 0);
        *server = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(*server, 0);
}

START_TEST(test_recv_one)
{
        int sv[2], c, s, got, extra, before;
        uint8_t buf[16];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        tcp_pair(&c, &s);
        before = open_fds();
        send_fds(sv[0], EGRESS_HANDOFF_BYTE, &s, 1);
        ck_assert_int_eq(egress_handoff_recv(sv[1], buf, sizeof(buf), 1000, &got, &extra), 1);
        ck_assert_int_eq(buf[0], EGRESS_HANDOFF_BYTE);
        ck_assert_int_ge(got, 0);
        ck_assert_int_eq(extra, 0);
        ck_assert_int_eq(fcntl(got, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        ck_assert_ptr_null(egress_handoff_refused(got));
        ck_assert_int_eq(egress_handoff_prepare(got), 0);
        ck_assert_int_eq(fcntl(got, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
        /* The passed socket is the connection: bytes from the client arrive on it. */
        ck_assert_int_eq(write(c, "hi", 2), 2);
        ck_assert_int_eq(egress_handoff_recv(got, buf, sizeof(buf), 1000, &(int){0}, &extra), 2);
        close(got);
        ck_assert_int_eq(open_fds(), before);
        close(c);
        close(s);
        close(sv[0]);
        close(sv[1]);
}
END_TEST

START_TEST(test_recv_none_and_bytes)
{
        int sv[2], got = 7, extra = 7;
        uint8_t buf[16];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        send_fds(sv[0], EGRESS_HANDOFF_BYTE, NULL, 0);
        ck_assert_int_eq(egress_handoff_recv(sv[1], buf, sizeof(buf), 1000, &got, &extra), 1);
        ck_assert_int_eq(got, -1);
        ck_assert_int_eq(extra, 0);
        /* Nothing came: a timeout, no fd. */
        ck_assert_int_eq(egress_handoff_recv(sv[1], buf, sizeof(buf), 50, &got, &extra),
                         -ETIMEDOUT);
        ck_assert_int_eq(got, -1);
        close(sv[0]);
        ck_assert_int_eq(egress_handoff_recv(sv[1], buf, sizeof(buf), 1000, &got, &extra), 0);
        ck_assert_int_eq(got, -1);
        close(sv[1]);
}
END_TEST

/* Two fds, and more than the room for them: one kept at most, the rest closed or dropped by the
 * kernel, and the message marked. */
START_TEST(test_recv_extra)
{
        int sv[2], c, s, got, extra, before, fds[12];
        uint8_t buf[16];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        tcp_pair(&c, &s);
        before = open_fds();
        fds[0] = s;
        fds[1] = s;
        send_fds(sv[0], EGRESS_HANDOFF_BYTE, fds, 2);
        ck_assert_int_eq(egress_handoff_recv(sv[1], buf, sizeof(buf), 1000, &got, &extra), 1);
        ck_assert_int_ge(got, 0);
        ck_assert_int_eq(extra, 1);
        close(got);
        ck_assert_int_eq(open_fds(), before);
        for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
                fds[i] = s;
        send_fds(sv[0], EGRESS_HANDOFF_BYTE, fds, ARRAY_SIZE(fds));
        ck_assert_int_eq(egress_handoff_recv(sv[1], buf, sizeof(buf), 1000, &got, &extra), 1);
        ck_assert_int_ge(got, 0);
        ck_assert_int_eq(extra, 1);
        close(got);
        ck_assert_int_eq(open_fds(), before);
        close(c);
        close(s);
        close(sv[0]);
        close(sv[1]);
}
END_TEST

START_TEST(test_refused)
{
        struct sockaddr_in sa;
        _cleanup_close_ int file = open("/dev/null", O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int lis = tcp_listener(&sa);
        _cleanup_close_ int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        _cleanup_close_ int fresh = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int sv[2], p[2], c, s;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        ck_assert_str_eq(egress_handoff_refused(file), "handoff_not_socket");
        ck_assert_str_eq(egress_handoff_refused(p[0]), "handoff_not_socket");
        ck_assert_str_eq(egress_handoff_refused(-1), "handoff_not_socket");
        ck_assert_str_eq(egress_handoff_refused(sv[0]), "handoff_bad_socket");
        ck_assert_str_eq(egress_handoff_refused(lis), "handoff_bad_socket");
        ck_assert_str_eq(egress_handoff_refused(udp), "handoff_bad_socket");
        ck_assert_str_eq(egress_handoff_refused(fresh), "handoff_bad_socket"); /* not connected */
        tcp_pair(&c, &s);
        ck_assert_ptr_null(egress_handoff_refused(c));
        ck_assert_ptr_null(egress_handoff_refused(s));
        close(c);
        close(s);
        close(p[0]);
        close(p[1]);
        close(sv[0]);
        close(sv[1]);
}
END_TEST

static Suite *handoff_suite(void)
{
        Suite *s = suite_create("egress_handoff");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_recv_one);
        tcase_add_test(tc, test_recv_none_and_bytes);
        tcase_add_test(tc, test_recv_extra);
        tcase_add_test(tc, test_refused);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(handoff_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
