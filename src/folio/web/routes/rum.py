"""POST /api/rum: browser beacons, rate-limited, origin-checked, size-capped and counted."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response

from folio.web.beacons import InvalidBeacon, parse_beacon
from folio.web.deps import BeaconIntakeDep, SettingsDep
from folio.web.rum import MAX_BEACON_BYTES, client_address, read_capped, site_origins

router = APIRouter()


@router.post("/api/rum", include_in_schema=False)
async def receive_beacon(
    request: Request, intake: BeaconIntakeDep, settings: SettingsDep
) -> Response:
    """Take one beacon, or refuse it with a JSON error and count why."""
    client = client_address(request, settings)
    if not intake.limiter.allow(client):
        return intake.refuse("rate_limited", 429, "too many beacons from this client")
    if request.headers.get("origin") not in site_origins(request, settings):
        return intake.refuse("bad_origin", 403, "beacons are accepted from this site only")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in ("text/plain", "application/json"):
        return intake.refuse("unsupported_media_type", 415, "send text/plain or application/json")
    body = await read_capped(request)
    if body is None:
        return intake.refuse("too_large", 413, f"beacons are capped at {MAX_BEACON_BYTES} bytes")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return intake.refuse("invalid_json", 400, "the body is not JSON")
    try:
        beacon = parse_beacon(payload)
    except InvalidBeacon as error:
        return intake.refuse("invalid_payload", 400, str(error))
    return intake.accept(request, client, beacon)
