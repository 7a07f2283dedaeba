// The shop: catalog, cart, login, the checkout steps, orders and their live
// status. With a session cookie the server holds the cart and the checkout's
// progress; with a bearer token this page holds them and sends everything
// with the order (the stateless confirm).
"use strict";

const shop = {
  auth: "cookie",
  token: null,
  user: null,
  products: [],
  // Token mode only: the cart and checkout details the client holds.
  cart: [],
  shipping: null,
  payment: null,
  orders: new Map(),
  // Orders the notifications list already names.
  notified: new Set(),
};

function authMode() {
  return document.querySelector("input[name=auth]:checked").value;
}

function opts(extra = {}) {
  return shop.token ? { ...extra, bearer: shop.token } : extra;
}

// Shows an answer next to the control that asked for it (`where` names the
// status element), so feedback is where the person looks.
function report(answer, what, where) {
  sc.status(where, answer, answer.ok ? `${what}: ${sc.summary(answer)}` : undefined);
  return answer.ok;
}

// A note for a step the page handled itself (token mode holds the state).
function note(where, text) {
  sc.el(where).textContent = text;
  sc.el(where).className = "ok";
}

function product(productId) {
  return shop.products.find((p) => p.productId === productId);
}

function name(productId) {
  const found = product(productId);
  return found ? found.name : productId;
}

// What each checkout step allows next: the buttons follow the workflow.
const NEXT = {
  browsing: "add something to the cart, then start the checkout",
  checkout: "enter the shipping address",
  shipping: "enter the payment",
  payment: "place the order",
  confirmed: "done: the order is below; the cart is empty again",
};

function setStep(step) {
  sc.el("step").textContent = step;
  sc.el("next-step").textContent = NEXT[step] || "";
  const total = Number(sc.el("cart-total").textContent);
  sc.el("start-checkout").disabled = !(step === "browsing" || step === "confirmed") || total === 0;
  sc.el("send-shipping").disabled = !["checkout", "shipping", "payment"].includes(step);
  sc.el("send-payment").disabled = !["shipping", "payment"].includes(step);
  sc.el("confirm").disabled = step !== "payment";
}

function renderCart(items) {
  const body = sc.el("cart");
  body.replaceChildren();
  let total = 0;
  let cents = 0;
  for (const item of items) {
    total += item.quantity;
    const price = product(item.productId) ? product(item.productId).priceCents * item.quantity : 0;
    cents += price;
    const row = document.createElement("tr");
    row.append(sc.cell(name(item.productId)), sc.cell(String(item.quantity), "num"), sc.cell(sc.money(price), "num"));
    const td = document.createElement("td");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", `Remove ${name(item.productId)} from the cart`);
    remove.addEventListener("click", () => removeItem(item.productId));
    td.append(remove);
    row.append(td);
    body.append(row);
  }
  sc.el("cart-total").textContent = String(total);
  sc.el("cart-sum").textContent = sc.money(cents);
  sc.el("cart-holder").textContent = shop.auth === "token" ? "this page (client)" : "server session";
  setStep(sc.el("step").textContent);
}

async function loadCart() {
  if (shop.auth === "token") {
    renderCart(shop.cart);
    return;
  }
  const answer = await sc.call("GET", "/cart");
  if (answer.ok) renderCart(answer.body.cartItems);
  else report(answer, "cart", "cart-status");
}

async function loadSession() {
  if (shop.auth === "token") return;
  const answer = await sc.call("GET", "/session");
  if (answer.ok) setStep(answer.body.currentStep);
}

async function loadCatalog() {
  const answer = await sc.call("GET", "/products");
  if (!answer.ok) {
    report(answer, "catalog", "catalog-status");
    return;
  }
  shop.products = answer.body.products;
  const body = sc.el("catalog");
  body.replaceChildren();
  for (const product of shop.products) {
    const row = document.createElement("tr");
    row.append(sc.cell(product.name), sc.cell(sc.money(product.priceCents), "num"), sc.cell(String(product.stock), "num"));
    const td = document.createElement("td");
    const add = document.createElement("button");
    add.type = "button";
    add.textContent = "Add";
    add.dataset.product = product.productId;
    add.setAttribute("aria-label", `Add ${product.name} to the cart`);
    add.addEventListener("click", () => addItem(product.productId));
    td.append(add);
    row.append(td);
    body.append(row);
  }
}

async function addItem(productId) {
  if (shop.auth === "token") {
    const line = shop.cart.find((l) => l.productId === productId);
    if (line) line.quantity += 1;
    else shop.cart.push({ productId, quantity: 1 });
    renderCart(shop.cart);
    note("cart-status", `added ${name(productId)} (held by this page)`);
    return;
  }
  const answer = await sc.call("POST", "/cart/items", { body: { productId, quantity: 1 } });
  if (report(answer, `added ${name(productId)}`, "cart-status")) renderCart(answer.body.cart.items);
  await loadSession();
}

async function removeItem(productId) {
  if (shop.auth === "token") {
    shop.cart = shop.cart.filter((l) => l.productId !== productId);
    renderCart(shop.cart);
    return;
  }
  const answer = await sc.call("DELETE", `/cart/items/${encodeURIComponent(productId)}`);
  report(answer, `removed ${name(productId)}`, "cart-status");
  await loadCart();
}

function showWho() {
  sc.el("who").textContent = shop.user
    ? `Logged in as ${shop.user.name} (${shop.user.role}) with a ${shop.auth === "token" ? "bearer token" : "session cookie"}.`
    : "Not logged in.";
}

async function login(event) {
  event.preventDefault();
  shop.auth = authMode();
  const credentials = { user: sc.el("user").value, password: sc.el("password").value };
  const path = shop.auth === "token" ? "/token" : "/login";
  const answer = await sc.call("POST", path, { body: credentials });
  if (!report(answer, "logged in", "account-status")) return;
  shop.token = shop.auth === "token" ? answer.body.token : null;
  forgetCheckout();
  const profile = await sc.call("GET", "/profile", opts());
  shop.user = profile.ok ? profile.body : null;
  showWho();
  await refreshAll();
}

async function logout() {
  const answer = await sc.call("POST", "/logout", opts());
  report(answer, "logged out", "account-status");
  shop.token = null;
  shop.user = null;
  shop.cart = [];
  forgetCheckout();
  showWho();
  await refreshAll();
}

// The page's own checkout state goes with the user it belonged to: the next
// one must not place an order with the last one's address and payment.
function forgetCheckout() {
  shop.shipping = null;
  shop.payment = null;
  for (const id of ["checkout-status", "shipping-status", "payment-status", "confirm-status"]) {
    sc.el(id).textContent = "";
  }
  setStep("browsing");
}

function shippingBody() {
  return {
    name: sc.el("ship-name").value,
    line1: sc.el("ship-line1").value,
    city: sc.el("ship-city").value,
    postalCode: sc.el("ship-postal").value,
    country: sc.el("ship-country").value,
  };
}

async function startCheckout() {
  if (shop.auth === "token") {
    setStep(shop.cart.length ? "checkout" : "browsing");
    note("checkout-status", "checkout started (this page holds its steps)");
    return;
  }
  const answer = await sc.call("POST", "/checkout");
  if (report(answer, "checkout started", "checkout-status")) setStep(answer.body.currentStep);
}

async function sendShipping(event) {
  event.preventDefault();
  if (shop.auth === "token") {
    shop.shipping = shippingBody();
    setStep("shipping");
    note("shipping-status", "address kept by this page");
    return;
  }
  const answer = await sc.call("POST", "/checkout/shipping", { body: shippingBody() });
  if (report(answer, "address saved in the session", "shipping-status")) setStep(answer.body.currentStep);
}

async function sendPayment(event) {
  event.preventDefault();
  const paymentToken = sc.el("payment-token").value;
  if (shop.auth === "token") {
    shop.payment = paymentToken;
    setStep("payment");
    note("payment-status", "payment kept by this page");
    return;
  }
  const answer = await sc.call("POST", "/checkout/payment", { body: { paymentToken } });
  if (report(answer, "payment saved in the session", "payment-status")) setStep(answer.body.currentStep);
}

async function confirm() {
  const headers = { "Idempotency-Key": sc.key() };
  let answer;
  if (shop.auth === "token") {
    const body = { cart: { items: shop.cart }, shipping: shop.shipping || shippingBody(), paymentToken: shop.payment || sc.el("payment-token").value };
    answer = await sc.call("POST", "/checkout/confirm", opts({ body, headers }));
  } else {
    answer = await sc.call("POST", "/checkout/confirm", { headers });
  }
  if (!report(answer, `order ${answer.body && answer.body.orderId} placed`, "confirm-status")) return;
  shop.cart = [];
  shop.shipping = null;
  shop.payment = null;
  setStep("confirmed");
  shop.orders.set(answer.body.orderId, answer.body);
  renderOrders();
  await loadCart();
}

function renderOrders() {
  const body = sc.el("orders");
  body.replaceChildren();
  for (const order of shop.orders.values()) {
    const row = document.createElement("tr");
    const status = document.createElement("td");
    const badge = document.createElement("span");
    badge.className = `badge ${order.status === "confirmed" ? "good" : order.status === "rejected" ? "bad" : ""}`;
    badge.textContent = order.status;
    badge.dataset.order = order.orderId;
    status.append(badge);
    row.append(sc.cell(order.orderId), status, sc.cell(order.items.map((i) => `${i.quantity} × ${name(i.productId)}`).join(", ")));
    body.append(row);
  }
}

async function loadOrders() {
  if (!shop.user) {
    shop.orders.clear();
    renderOrders();
    shop.notified.clear();
    sc.el("notifications").replaceChildren();
    return;
  }
  const orders = await sc.call("GET", "/orders", opts());
  if (orders.ok) {
    const moved = orders.body.orders.some((o) => shop.orders.has(o.orderId) && shop.orders.get(o.orderId).status !== o.status);
    shop.orders = new Map(orders.body.orders.map((o) => [o.orderId, o]));
    renderOrders();
    // Stock moved when an order was confirmed: show it.
    if (moved) await loadCatalog();
  }
  const notes = await sc.call("GET", "/notifications", opts());
  if (notes.ok) {
    shop.notified = new Set(notes.body.notifications.map((n) => n.orderId));
    const list = sc.el("notifications");
    list.replaceChildren();
    for (const note of notes.body.notifications) {
      const item = document.createElement("li");
      item.textContent = note.message;
      list.append(item);
    }
  }
}

async function refreshAll() {
  await Promise.all([loadCart(), loadSession(), loadOrders()]);
}

// Orders move created → confirmed (or rejected) through events, and the
// notification of that outcome is recorded by another consumer, a moment
// later: while any order is still created, or settled without its
// notification, look again every second. (Stopping at the status alone left
// the notification unseen when it landed just after the order settled.)
setInterval(() => {
  const pending = [...shop.orders.values()].some((o) => o.status === "created" || !shop.notified.has(o.orderId));
  if (pending) loadOrders();
}, 1000);

sc.el("login-form").addEventListener("submit", login);
sc.el("logout").addEventListener("click", logout);
sc.el("start-checkout").addEventListener("click", startCheckout);
sc.el("shipping-form").addEventListener("submit", sendShipping);
sc.el("payment-form").addEventListener("submit", sendPayment);
sc.el("confirm").addEventListener("click", confirm);

(async () => {
  await loadCatalog();
  const profile = await sc.call("GET", "/profile");
  shop.user = profile.ok ? profile.body : null;
  showWho();
  setStep("browsing");
  await refreshAll();
})();
