"""The one shape of a refused request, shared by every area's services."""


class Refused(Exception):
    """A request the rules refuse: `message` goes back to the client, `status` is the HTTP status
    to answer with."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.message = message
        self.status = status
