"""The platforms' signatures against the vectors of ../shared/api-contracts.md (V1–V5, V7–V8, V10–V11)."""

from __future__ import annotations

from apps.stores.integrations import signatures as sig


def test_v1_shopify_webhook_is_base64_not_hex():
    body = b'{"foo": "bar"}'
    assert (
        sig.shopify_webhook_signature("test_secret_key", body)
        == "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="
    )
    assert sig.shopify_webhook_valid("test_secret_key", body, "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=")
    hex_form = "076ded5cdebcd60674a8858d46b82dcc113d5d20e8e72694bbac1f9a1bb76bb8"
    assert not sig.shopify_webhook_valid("test_secret_key", body, hex_form)
    assert not sig.shopify_webhook_valid(
        "test_secret_key", body + b" ", "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="
    )
    assert not sig.shopify_webhook_valid("test_secret_key", body, None)


def test_v2_to_v5_shopify_oauth_query_hmac():
    v2 = {
        "code": "0907a61c0c8d55e99db179b68161bc00",
        "hmac": "4712bf92ffc2917d15a2f5a273e39f0116667419aa4b6ac0b3baaf26fa3c4d20",
        "shop": "some-shop.myshopify.com",
        "timestamp": "1337178173",
    }
    assert sig.shopify_query_valid("hush", v2, max_age_s=None)
    assert not sig.shopify_query_valid("hush", v2)  # 2012: far too old
    assert not sig.shopify_query_valid("hush", {**v2, "shop": "evil.myshopify.com"}, max_age_s=None)
    v3 = {
        "shop": "some-shop.myshopify.com",
        "code": "a94a110d86d2452eb3e2af4cfb8a3828",
        "timestamp": "1337178173",
    }
    assert (
        sig.shopify_query_hmac("hush", v3)
        == "2cb1a277650a659f1b11e92a4a64275b128e037f2c3390e3c8fd2d8721dac9e2"
    )
    v4 = {"shop": "some-shop.myshopify.com", "ids[]": ["2", "1"]}
    assert (
        sig.shopify_query_hmac("hush", v4)
        == "b93b9f82996f6f8bf9f1b7bbddec284c8fabacdc4e12dc80550b4705f3003b1e"
    )
    v5 = {"a": "1&b=2", "c=3&d": "4"}
    assert (
        sig.shopify_query_hmac("secret", v5)
        == "8de3c7e965d22fa21e059868e4004f5b6fbdcef293d1622ff9408edd6325bc6b"
    )


def test_v7_v8_standard_webhooks_as_bigcommerce_signs():
    import base64

    key7 = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    headers7 = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    assert sig.standard_webhook_valid(key7, headers7, b'{"test": 2432232314}', tolerance_s=None)
    assert not sig.standard_webhook_valid(key7, headers7, b'{"test": 2432232314}')  # 2021: outside 5 min
    body8 = (
        b'{"store_id":"11111","producer":"stores/abcde","scope":"store/order/statusUpdated",'
        b'"data":{"type":"order","id":173331},"hash":"3f9ea420af83450d7ef9f78b08c8af25b2213637"}'
    )
    expected8 = "v1,kFuY2oVwMVOFqoQs1MvOQ1YHdcKI1TrViNCxImRUzWY="
    assert (
        sig.standard_webhook_signature(b"bc-example-client-secret", "msg_2Qh0example", "1735689600", body8)
        == expected8
    )
    headers8 = {
        "webhook-id": "msg_2Qh0example",
        "webhook-timestamp": "1735689600",
        "webhook-signature": f"v1,bad {expected8}",
    }
    assert sig.standard_webhook_valid(b"bc-example-client-secret", headers8, body8, tolerance_s=None)


def test_v10_v11_woocommerce_webhook():
    assert sig.woocommerce_webhook_signature("", b"secret") == "GBDo00G55h6IiV+6CxqivQPLbI//KzaOZm747971tPs="
    body = b'{"id":727,"status":"processing","currency":"USD","total":"29.35"}'
    assert sig.woocommerce_webhook_valid(
        "my-woo-secret", body, "dekTTd+tSeP6hiIPLbQEM8J4l8SVATN0ZY3BKtKDcNE="
    )
    assert not sig.woocommerce_webhook_valid("other", body, "dekTTd+tSeP6hiIPLbQEM8J4l8SVATN0ZY3BKtKDcNE=")
