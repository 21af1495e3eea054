/* Test helper for the live runtime tests: does, inside a container, the few things busybox cannot.
 *   chhelper privup          drop the effective uid to the real one, then take root back (setresuid)
 *   chhelper finit           try to load a kernel module (finit_module on stdin): fails, is audited
 *   chhelper unix PATH       listen on a unix socket at PATH and connect to it
 * Built statically by the test fixture with the host's cc. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "privup") == 0) {
        uid_t r = getuid();
        if (setresuid(-1, r, -1) != 0) perror("drop");
        int rc = setresuid(-1, 0, -1);
        printf("setresuid(-1, 0, -1) = %d euid=%d\n", rc, (int)geteuid());
        return rc == 0 ? 0 : 1;
    }
    if (argc >= 2 && strcmp(argv[1], "finit") == 0) {
        long rc = syscall(SYS_finit_module, 0, "", 0);
        perror("finit_module");
        return rc == 0 ? 0 : 1;
    }
    if (argc >= 3 && strcmp(argv[1], "unix") == 0) {
        struct sockaddr_un a;
        memset(&a, 0, sizeof a);
        a.sun_family = AF_UNIX;
        strncpy(a.sun_path, argv[2], sizeof a.sun_path - 1);
        unlink(argv[2]);
        int s = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
        if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 1)) { perror("listen"); return 1; }
        if (connect(c, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 1; }
        unlink(argv[2]);
        return 0;
    }
    fprintf(stderr, "usage: chhelper privup|finit|unix PATH\n");
    return 2;
}
