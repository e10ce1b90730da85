"""Log-in throttling: django-axes' check in front of Django's own authentication."""

from axes.backends import AxesStandaloneBackend


class LoginThrottleBackend(AxesStandaloneBackend):
    """axes' lockout check for every log-in that comes with a request (the admin's log-in form and
    any LoginView pass theirs). A call without one (the test client's login(), a management command)
    has no address to throttle by: axes would raise, so it is left to the next backend."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
