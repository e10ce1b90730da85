"""The Content-Security-Policy header (settings.CONTENT_SECURITY_POLICY), set by django-csp."""

from csp.middleware import CSPMiddleware, PolicyParts
from django.core.exceptions import DisallowedHost


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the site's own WebSocket origin (ws://host or wss://host, as
    duel.js connects) added to connect-src: browsers that follow CSP3 count it as 'self', older
    ones (Firefox before 126, older Safari) do not. Any other WebSocket host stays refused."""

    def get_policy_parts(self, request, response, report_only=False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        try:
            host = request.get_host()
        except DisallowedHost:  # answered 400 already; no origin to add
            return parts
        own_socket = f"{'wss' if request.is_secure() else 'ws'}://{host}"
        update = dict(parts.update or {})  # a view's own @csp_update stays
        update["connect-src"] = [*(update.get("connect-src") or []), own_socket]
        parts.update = update
        return parts
