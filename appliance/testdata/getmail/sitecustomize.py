# Python reads this file at start-up when the getmail tests
# (appliance/clients_getmail_test.go) put its folder on PYTHONPATH.
#
# getmail 6.18 hands each message to a forked child and then waits for
# the child's SIGCHLD. It installs the signal handler only after fork(),
# and waits on a condition without first looking whether the child was
# already seen. On a loaded machine the child can finish first: its signal
# is lost, and getmail gives up after its timeout with "waiting child pid
# N timed out" although the message was delivered. A CI run failed that
# way. That race is in getmail's local delivery, not in the POP3
# conversation the tests are about, so the parent here simply waits for
# its child with waitpid.
import os

try:
    from getmailcore import baseclasses
    from getmailcore.exceptions import getmailOperationError
except ImportError:  # another Python program, or getmail changed
    baseclasses = None


def _no_handler(self):
    pass


def _waitpid(self, childpid):
    _, status = os.waitpid(childpid, 0)
    if os.WIFSIGNALED(status):
        raise getmailOperationError(
            "child pid %d killed by signal %d" % (childpid, os.WTERMSIG(status)))
    return os.WEXITSTATUS(status)


if baseclasses is not None and hasattr(baseclasses, "ForkingBase"):
    baseclasses.ForkingBase._prepare_child = _no_handler
    baseclasses.ForkingBase._wait_for_child = _waitpid
