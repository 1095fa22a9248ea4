/*
 * Snapshelf search widget: one <script> tag adds a search box with a camera button.
 *
 *   <script src="https://search.example.com/static/search/widget.js" defer
 *           data-api="https://search.example.com/api/v1/" data-key="ss_pub_..."></script>
 *
 * Optional: data-target (a CSS selector to mount into; default: where the script tag is),
 * data-limit (results per page, default 12), data-placeholder.
 * Use a public (search-only) key: it is visible to every visitor.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || script.getAttribute("data-snapshelf-loaded")) return;
  script.setAttribute("data-snapshelf-loaded", "1");

  var api = (script.getAttribute("data-api") || "").replace(/\/?$/, "/");
  var key = script.getAttribute("data-key") || "";
  var limit = parseInt(script.getAttribute("data-limit") || "12", 10);
  var uid = "snapshelf-" + Math.random().toString(36).slice(2, 8);

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();

  function init() {
    // Styles live next to this file.
    var css = el("link", { rel: "stylesheet", href: script.src.replace(/widget\.js(\?.*)?$/, "widget.css") });
    document.head.appendChild(css);

    // --- the search box ---------------------------------------------------------------------
    var input = el("input", {
      type: "search", id: uid + "-q", name: "q", autocomplete: "off",
      placeholder: script.getAttribute("data-placeholder") || "Search products",
    });
    var fileInput = el("input", {
      type: "file", accept: "image/*", capture: "environment", "class": "snapshelf-file",
      id: uid + "-photo", tabindex: "-1", "aria-hidden": "true",
    });
    var camera = el("button", { type: "button", "class": "snapshelf-camera", "aria-label": "Search by photo",
                                title: "Search by photo" }, [el("span", { "aria-hidden": "true", text: "\uD83D\uDCF7" })]);
    var submit = el("button", { type: "submit", "class": "snapshelf-submit", text: "Search" });
    var form = el("form", { role: "search", "class": "snapshelf-form", "aria-label": "Product search" }, [
      el("label", { "for": uid + "-q", "class": "snapshelf-sr", text: "Search products" }),
      input, camera, submit, fileInput,
    ]);

    // --- the overlay ------------------------------------------------------------------------
    var heading = el("h2", { id: uid + "-title", "class": "snapshelf-title", text: "Search results" });
    var closeButton = el("button", { type: "button", "class": "snapshelf-close", "aria-label": "Close results",
                                     text: "\u00D7" });
    var status = el("p", { "class": "snapshelf-status", role: "status", "aria-live": "polite" });
    var list = el("ul", { "class": "snapshelf-results" });
    var more = el("button", { type: "button", "class": "snapshelf-more", text: "More results", hidden: "" });
    var dialog = el("div", { "class": "snapshelf-dialog", role: "dialog", "aria-modal": "true",
                             "aria-labelledby": uid + "-title", tabindex: "-1" },
                    [closeButton, heading, status, list, more]);
    var overlay = el("div", { "class": "snapshelf-overlay", hidden: "" }, [dialog]);

    var target = script.getAttribute("data-target") && document.querySelector(script.getAttribute("data-target"));
    if (target) target.appendChild(form);
    else script.parentNode.insertBefore(form, script);
    document.body.appendChild(overlay);

    var state = { text: "", cursor: null, opener: null };

    function open() {
      if (overlay.hasAttribute("hidden")) state.opener = document.activeElement;
      overlay.removeAttribute("hidden");
      dialog.focus();
    }

    function close() {
      overlay.setAttribute("hidden", "");
      if (state.opener && state.opener.focus) state.opener.focus();
    }

    function price(product) {
      try {
        return new Intl.NumberFormat(undefined, { style: "currency", currency: product.currency })
          .format(Number(product.price));
      } catch (e) {
        return product.price + " " + product.currency;
      }
    }

    // An opened result is reported as a beacon (it survives the page being left), with the
    // answer's signed search_id and the result's rank; nothing about the shopper.
    function opened(searchId, rank, productId) {
      if (!searchId || !navigator.sendBeacon) return;
      var body = new FormData();
      body.append("search_id", searchId);
      body.append("rank", String(rank));
      body.append("product", String(productId));
      navigator.sendBeacon(api + "search/opened/", body);
    }

    function card(hit, searchId, rank) {
      var product = hit.product;
      var image = hit.matched_image || product.images[0];
      var children = [];
      if (image) children.push(el("img", { src: image.url, alt: image.alt_text || product.title, loading: "lazy" }));
      children.push(el("span", { "class": "snapshelf-name", text: product.title }));
      children.push(el("span", { "class": "snapshelf-price", text: price(product) }));
      var body = product.url
        ? el("a", { href: product.url, "class": "snapshelf-card" }, children)
        : el("div", { "class": "snapshelf-card" }, children);
      if (product.url) body.addEventListener("click", function () { opened(searchId, rank, product.id); });
      return el("li", {}, [body]);
    }

    function show(data, append) {
      if (!append) list.textContent = "";
      data.results.forEach(function (hit) {
        list.appendChild(card(hit, data.search_id, list.children.length + 1));
      });
      state.cursor = data.next_cursor;
      if (state.cursor) more.removeAttribute("hidden"); else more.setAttribute("hidden", "");
      var count = list.children.length;
      var note = data.close_match === false ? " Nothing looks quite like your photo; these are the nearest." : "";
      status.textContent = count ? count + (count === 1 ? " product." : " products.") + note : "No products found.";
    }

    function search(body, append) {
      open();
      status.textContent = "Searching\u2026";
      var headers = { "X-Api-Key": key };
      if (!(body instanceof FormData)) {
        headers["Content-Type"] = "application/json";
        body = JSON.stringify(body);
      }
      return fetch(api + "search/?channel=widget", { method: "POST", headers: headers, body: body, mode: "cors" })
        .then(function (response) {
          return response.json().then(function (data) {
            if (!response.ok) throw new Error((data.error && data.error.message) || "Search failed.");
            show(data, append);
          });
        })
        .catch(function (error) { status.textContent = error.message || "Search failed."; });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      state.text = input.value.trim();
      if (state.text) search({ text: state.text, limit: limit }, false);
    });
    camera.addEventListener("click", function () { fileInput.click(); });
    fileInput.addEventListener("change", function () {
      if (!fileInput.files.length) return;
      var body = new FormData();
      body.append("image", fileInput.files[0]);
      body.append("limit", String(limit));
      if (input.value.trim()) body.append("text", input.value.trim());
      search(body, false);
      fileInput.value = "";
    });
    more.addEventListener("click", function () {
      if (state.cursor) search({ cursor: state.cursor, text: state.text, limit: limit }, true);
    });
    closeButton.addEventListener("click", close);
    overlay.addEventListener("click", function (event) { if (event.target === overlay) close(); });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && !overlay.hasAttribute("hidden")) close();
    });
  }
})();
