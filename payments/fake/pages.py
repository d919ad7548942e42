"""Pages a person uses in place of the payer's apps: the bank app that pays a Pix code (``/payer/``), Mercado Pago's
checkout at a link's ``init_point`` and Stripe's hosted checkout. Plain HTML, a little vanilla JavaScript, no assets
from elsewhere; in English, since they stand for the payer's apps rather than for the product.
"""

from __future__ import annotations

import json
from decimal import Decimal
from html import escape
from string import Template
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from payments.fake.mercadopago import CheckoutRefused, MercadoPagoEngine, MpError
from payments.fake.stripe import StripeEngine, StripeError

STYLE = """
:root { color-scheme: light; --ink: #1d2430; --muted: #5d6878; --line: #d9dee6; --accent: #0b6e4f; --warn: #9a3b12; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: var(--ink); background: #f4f6f9; }
main { max-width: 34rem; margin: 2rem auto; padding: 1.5rem; background: #fff; border: 1px solid var(--line);
       border-radius: 12px; }
h1 { font-size: 1.35rem; margin: 0 0 .25rem; }
p.hint { color: var(--muted); margin: 0 0 1.25rem; font-size: .9rem; }
label { display: block; font-weight: 600; margin: .75rem 0 .25rem; }
textarea, input[type=text] { width: 100%; padding: .5rem; font: inherit; border: 1px solid var(--line);
       border-radius: 8px; }
textarea { font-family: ui-monospace, monospace; font-size: .8rem; }
button { font: inherit; padding: .5rem 1rem; border-radius: 8px; border: 1px solid var(--accent);
         background: var(--accent); color: #fff; cursor: pointer; margin: .5rem .5rem 0 0; }
button.secondary { background: #fff; color: var(--accent); }
button.danger { border-color: var(--warn); background: #fff; color: var(--warn); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 1rem 0; }
dt { color: var(--muted); }
dd { margin: 0; }
table { width: 100%; border-collapse: collapse; margin: 1rem 0; }
td, th { text-align: left; padding: .35rem 0; border-bottom: 1px solid var(--line); }
td.num, th.num { text-align: right; }
.total { font-size: 1.25rem; font-weight: 700; }
#result { min-height: 1.5rem; font-weight: 600; }
#result.error { color: var(--warn); }
.check { font-weight: 400; }
"""

PAGE = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$style</style>
</head>
<body>
<main>
$body
</main>
<script>
async function post(url, body) {
  const response = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                     body: JSON.stringify(body)});
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || ("HTTP " + response.status));
  return data;
}
function say(text, isError) {
  const result = document.getElementById("result");
  result.textContent = text;
  result.className = isError ? "error" : "";
}
$script
</script>
</body>
</html>
""")

PAYER_BODY = """
<h1>Pay with Pix</h1>
<p class="hint">This page stands for the payer's bank app: paste a Pix copy-and-paste code of this fake PSP.</p>
<form id="find">
  <label for="code">Pix copy-and-paste code</label>
  <textarea id="code" rows="4" required spellcheck="false"></textarea>
  <button type="submit">Find the charge</button>
</form>
<section id="charge" hidden>
  <dl>
    <dt>To</dt><dd id="merchant"></dd>
    <dt>Amount</dt><dd id="amount" class="total"></dd>
    <dt>Message</dt><dd id="description"></dd>
    <dt>Status</dt><dd id="status"></dd>
    <dt>Expires</dt><dd id="expires"></dd>
  </dl>
  <button type="button" id="pay">Pay</button>
  <button type="button" id="twice" class="secondary">Pay twice</button>
  <label for="other">Another amount (e.g. 20,00)</label>
  <input type="text" id="other" inputmode="decimal" autocomplete="off">
  <button type="button" id="wrong" class="danger">Pay a wrong amount</button>
  <label class="check"><input type="checkbox" id="force"> Let the bank skip its checks (it then pays a wrong amount,
    a paid charge or an expired one)</label>
</section>
<p id="result" role="status"></p>
"""

PAYER_SCRIPT = """
const money = (cents) => "R$ " + Math.floor(cents / 100) + "," + String(cents % 100).padStart(2, "0");
function centsOf(text) {
  const match = /^\\s*(\\d+)(?:[.,](\\d{1,2}))?\\s*$/.exec(text);
  if (!match) return null;
  return Number(match[1]) * 100 + Number((match[2] || "0").padEnd(2, "0"));
}
let code = "";
function show(charge) {
  document.getElementById("charge").hidden = false;
  document.getElementById("merchant").textContent = charge.merchant_name || charge.receiver;
  document.getElementById("amount").textContent = money(charge.amount);
  document.getElementById("description").textContent = charge.description || "-";
  document.getElementById("status").textContent = charge.status + (charge.expired ? " (expired)" : "");
  document.getElementById("expires").textContent = charge.expires_at;
}
document.getElementById("find").addEventListener("submit", async (event) => {
  event.preventDefault();
  code = document.getElementById("code").value.trim();
  try { show(await post("/_fake/pix/lookup", {code})); say(""); } catch (error) { say(error.message, true); }
});
async function pay(extra) {
  const force = document.getElementById("force").checked;
  try {
    const result = await post("/_fake/pix/pay", Object.assign({code, force}, extra));
    const paid = result.pix.map((pix) => pix.valor + " (" + pix.endToEndId + ")").join(", ");
    const refused = result.refused.length ? " Refused: " + result.refused.join(" ") : "";
    say("Paid " + paid + ". The charge is " + result.status + "." + refused, result.refused.length > 0);
    show(await post("/_fake/pix/lookup", {code}));
  } catch (error) { say(error.message, true); }
}
document.getElementById("pay").addEventListener("click", () => pay({}));
document.getElementById("twice").addEventListener("click", () => pay({times: 2}));
document.getElementById("wrong").addEventListener("click", () => {
  const amount = centsOf(document.getElementById("other").value);
  if (amount === null || amount <= 0) { say("Write an amount such as 20,00.", true); return; }
  pay({amount});
});
"""

CHECKOUT_SCRIPT = Template("""
const target = $target;
const links = $links;
for (const button of document.querySelectorAll("button[data-result]")) {
  button.addEventListener("click", async () => {
    try {
      await post(target, {result: button.dataset.result});
      const back = links[button.dataset.result];
      say(button.dataset.done);
      if (back && /^https?:\\/\\//.test(back)) {
        const link = document.createElement("a");
        link.href = back;
        link.textContent = " Back to the shop";
        document.getElementById("result").append(link);
      }
    } catch (error) { say(error.message, true); }
  });
}
""")


def page(title: str, body: str, script: str = "") -> HTMLResponse:
    return HTMLResponse(PAGE.substitute(title=escape(title), style=STYLE, body=body, script=script))


def refusal(title: str, message: str) -> HTMLResponse:
    return page(title, f"<h1>Checkout</h1><p id='result' class='error'>{escape(message)}</p>")


def script_json(value: Any) -> str:
    """A JSON literal safe inside a ``<script>`` element."""
    return json.dumps(value).replace("</", "<\\/")


def brl(cents: int) -> str:
    return f"R$ {cents // 100},{cents % 100:02d}"


async def index(request: Request) -> Response:
    body = """
<h1>Fake PSP</h1>
<p class="hint">A stand-in for BCB's API Pix, Mercado Pago and Stripe Checkout (see payments/fake/README.md).</p>
<ul>
  <li><a href="/payer/">Pay a Pix code</a> (the payer's bank app)</li>
  <li><a href="/_fake/pix/cobs">Pix charges</a> · <a href="/_fake/deliveries">callbacks and webhooks sent</a>
      · <a href="/_fake/requests">requests received</a></li>
</ul>"""
    return page("Fake PSP", body)


async def payer(request: Request) -> Response:
    return page("Fake bank app · Pay with Pix", PAYER_BODY, PAYER_SCRIPT)


async def payer_redirect(request: Request) -> Response:
    return RedirectResponse("/payer/", status_code=308)


async def mercadopago_checkout(request: Request) -> Response:
    engine: MercadoPagoEngine = request.app.state.mercadopago
    pref_id = request.query_params.get("pref_id", "")
    try:
        preference = engine.preference(None, pref_id)
        engine.check_open(preference)
    except (MpError, CheckoutRefused) as error:
        return refusal("Mercado Pago (fake)", error.message if isinstance(error, MpError) else str(error))
    rows, total = [], Decimal(0)
    for item in preference["items"]:
        line = Decimal(item["unit_price"]) * item["quantity"]
        total += line
        rows.append(
            f"<tr><td>{escape(str(item['title']))}</td><td class='num'>{item['quantity']}</td>"
            f"<td class='num'>{brl(int(line * 100))}</td></tr>"
        )
    body = f"""
<h1>Mercado Pago checkout</h1>
<p class="hint">This page stands for Mercado Pago's Checkout Pro. Each button is one payment attempt.</p>
<table><tr><th>Item</th><th class="num">Qty</th><th class="num">Amount</th></tr>{"".join(rows)}</table>
<p class="total">Total {brl(int(total * 100))}</p>
<button type="button" data-result="approved" data-done="Payment approved.">Approve</button>
<button type="button" data-result="rejected" data-done="Payment rejected (insufficient amount)." class="danger">
  Reject</button>
<button type="button" data-result="pending" data-done="Payment pending." class="secondary">Leave pending</button>
<p id="result" role="status"></p>"""
    back = preference.get("back_urls") or {}
    links = {"approved": back.get("success"), "rejected": back.get("failure"), "pending": back.get("pending")}
    script = CHECKOUT_SCRIPT.substitute(
        target=script_json(f"/_fake/mercadopago/checkout/{pref_id}"), links=script_json(links)
    )
    return page("Mercado Pago (fake)", body, script)


async def stripe_checkout(request: Request) -> Response:
    engine: StripeEngine = request.app.state.stripe
    session_id = request.path_params["session_id"]
    try:
        session = engine.session(None, session_id)
    except StripeError as error:
        return page(
            "Stripe Checkout (fake)", f"<h1>Checkout</h1><p id='result' class='error'>{escape(error.message)}</p>"
        )
    if session["status"] != "open":
        message = f"This Checkout Session is {session['status']}."
        return page("Stripe Checkout (fake)", f"<h1>Checkout</h1><p id='result' class='error'>{escape(message)}</p>")
    amount = int(session["amount_total"])
    body = f"""
<h1>Stripe Checkout</h1>
<p class="hint">This page stands for Stripe's hosted checkout.</p>
<p class="total">Pay {escape(session["currency"].upper())} {amount // 100}.{amount % 100:02d}</p>
<button type="button" data-result="paid" data-done="Paid.">Pay</button>
<button type="button" data-result="expire" data-done="The session was closed." class="secondary">Cancel</button>
<p id="result" role="status"></p>"""
    # Stripe fills in the session id where the success URL asks for it.
    success = (session.get("success_url") or "").replace("{CHECKOUT_SESSION_ID}", session_id)
    links = {"paid": success or None, "expire": session.get("cancel_url")}
    script = CHECKOUT_SCRIPT.substitute(
        target=script_json(f"/_fake/stripe/checkout/{session_id}"), links=script_json(links)
    )
    return page("Stripe Checkout (fake)", body, script)


def routes() -> list[Route]:
    return [
        Route("/", index, methods=["GET"]),
        Route("/payer", payer_redirect, methods=["GET"]),
        Route("/payer/", payer, methods=["GET"]),
        Route("/mercadopago/checkout/v1/redirect", mercadopago_checkout, methods=["GET"]),
        Route("/mercadopago/sandbox/checkout/v1/redirect", mercadopago_checkout, methods=["GET"]),
        Route("/stripe/c/pay/{session_id}", stripe_checkout, methods=["GET"]),
    ]
