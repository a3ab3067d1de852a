"""Messenger and copy-link: the merchant passes the link on from their own device, so "sending" is
building what they need and recording that it was shared."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings

from .base import Channel, Delivery, Outgoing


class MessengerChannel(Channel):
    """A Messenger share link: Facebook's send dialog when `FACEBOOK_APP_ID` is set, else the
    Messenger app's own share URL."""

    in_app = True

    def send(self, outgoing: Outgoing) -> Delivery:
        if not outgoing.link:
            return Delivery.failed("There is no link to share.", retry=False)
        app_id = getattr(settings, "FACEBOOK_APP_ID", "")
        if app_id:
            query = {"app_id": app_id, "link": outgoing.link, "redirect_uri": settings.SETTLE_BASE_URL + "/"}
            url = "https://www.facebook.com/dialog/send?" + urlencode(query)
        else:
            url = "fb-messenger://share/?" + urlencode({"link": outgoing.link})
        return Delivery("shared", share_url=url)


class CopyLinkChannel(Channel):
    """The merchant copies the link and sends it however they like."""

    in_app = True

    def send(self, outgoing: Outgoing) -> Delivery:
        if not outgoing.link:
            return Delivery.failed("There is no link to copy.", retry=False)
        return Delivery("copied", share_url=outgoing.link)
