/* floor - the syscall floor of a subhost boot, for bench/boot-bench.
 *
 * Adapted from the method of the project's reference measurement "anc-floor-c"
 * (the boot/teardown floor in the anchor measurements of overlay-boot 1.6.4 and
 * its peers); rewritten for this repository so that the benchmark needs nothing
 * outside it. Differences: the overlay's upper directory is BASE/root (the
 * default UPPER of an overlay-boot configuration), there is no SHARE bind (the
 * ready file is written into the overlay and appears in UPPER on the host), and
 * PID 1 is a command line given on ours, not a fixed start script.
 *
 *   floor NAME BASE PIDFILE CMD [ARG...]
 *     netns:  open(/run/netns/NAME, O_CREAT|O_EXCL), unshare(CLONE_NEWNET),
 *             bind /proc/self/ns/net onto it, lo up by ioctl (what "ip netns add"
 *             plus "ip link set lo up" do, without helper processes)
 *     unshare(NEWNS|NEWPID|NEWUTS|NEWIPC|NEWTIME), make / recursively private, fork
 *     child (PID 1 of the new pid namespace):
 *             overlay on BASE/live (lowerdir=/, upperdir=BASE/root, workdir=BASE/work),
 *             proc on live/proc, tmpfs on live/dev + mknod null,
 *             pivot_root(".", "."), umount2(".", MNT_DETACH), chdir("/"), execv(CMD)
 *     parent: writes the host pid of PID 1 to PIDFILE and waits for it (like unshare -f)
 *   floor --stop NAME PIDFILE
 *     kill(PID 1, SIGKILL) (the kernel ends the rest of the pid namespace),
 *     then what "ip netns del NAME" does: umount2 + unlink of /run/netns/NAME.
 *
 * FLOOR_TRACE=1 prints microseconds since start after each step on stderr.
 * Build: cc -O2 -o floor floor.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static void die(const char *m) { perror(m); _exit(1); }

static int trace;
static struct timespec t_start;
static void step(const char *what)
{
    if (!trace) return;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    fprintf(stderr, "%7ld us  %s\n",
            (t.tv_sec - t_start.tv_sec) * 1000000L + (t.tv_nsec - t_start.tv_nsec) / 1000, what);
}

static int stop(const char *name, const char *pidf)
{
    char p[4096];
    int pid = 0, rc = 0;
    FILE *f = fopen(pidf, "r");
    if (f) { if (fscanf(f, "%d", &pid) != 1) pid = 0; fclose(f); }
    if (pid > 1) kill(pid, SIGKILL);
    snprintf(p, sizeof p, "/run/netns/%s", name);
    if (umount2(p, MNT_DETACH)) { perror("umount netns"); rc = 1; }
    if (unlink(p)) { perror("unlink netns"); rc = 1; }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--stop") == 0)
        return stop(argv[2], argv[3]);
    if (argc < 5) {
        fprintf(stderr, "usage: %s NAME BASE PIDFILE CMD [ARG...]\n       %s --stop NAME PIDFILE\n",
                argv[0], argv[0]);
        return 2;
    }
    const char *name = argv[1], *base = argv[2], *pidf = argv[3];
    char **cmd = argv + 4;
    char p[8192], live[4096], opts[8192];
    trace = getenv("FLOOR_TRACE") != NULL;
    clock_gettime(CLOCK_MONOTONIC, &t_start);

    /* named network namespace, as "ip netns add NAME" makes it */
    mkdir("/run/netns", 0755);
    snprintf(p, sizeof p, "/run/netns/%s", name);
    int fd = open(p, O_RDONLY | O_CREAT | O_EXCL, 0);
    if (fd < 0) die(p);
    close(fd);
    if (unshare(CLONE_NEWNET)) die("unshare net");
    step("unshare(CLONE_NEWNET)");
    if (mount("/proc/self/ns/net", p, "none", MS_BIND, NULL)) die("bind netns");
    step("bind /run/netns/NAME");
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr)) die("lo flags");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr)) die("lo up");
    close(s);
    step("lo up");

    if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWTIME))
        die("unshare");
    step("unshare(NEWNS|NEWPID|NEWUTS|NEWIPC|NEWTIME)");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) die("rprivate");
    step("make / rprivate");

    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        snprintf(live, sizeof live, "%s/live", base);
        snprintf(opts, sizeof opts, "lowerdir=/,upperdir=%s/root,workdir=%s/work", base, base);
        step("fork (child = PID 1)");
        if (mount(name, live, "overlay", 0, opts)) die("overlay");
        step("mount overlay");
        snprintf(p, sizeof p, "%s/proc", live);
        if (mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) die("proc");
        snprintf(p, sizeof p, "%s/dev", live);
        if (mount("dev", p, "tmpfs", MS_NOSUID, "size=1m,mode=755")) die("dev");
        snprintf(p, sizeof p, "%s/dev/null", live);
        if (mknod(p, S_IFCHR | 0666, makedev(1, 3))) die("mknod");
        chmod(p, 0666);
        step("proc, tmpfs /dev, mknod null");
        if (chdir(live)) die("chdir");
        if (syscall(SYS_pivot_root, ".", ".")) die("pivot_root");
        if (umount2(".", MNT_DETACH)) die("umount old root");
        if (chdir("/")) die("chdir /");
        step("pivot_root + umount old root; exec");
        execv(cmd[0], cmd);
        die("exec");
    }
    FILE *f = fopen(pidf, "w");
    if (f) { fprintf(f, "%d\n", pid); fclose(f); }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
