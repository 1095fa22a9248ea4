// Snapshelf storefront: photo input (picker, camera, drag and drop, paste), downscaling before
// upload, and a crop box on the query photo. Everything here is an enhancement: without
// JavaScript the search form posts the chosen file as it is.
(function () {
  "use strict";
  var MAX_SIDE = 640;
  var PHOTO_KEY = "snapshelf-photo";
  var CROP_KEY = "snapshelf-crop";
  var form = document.getElementById("search-form");
  if (!form) { return; }
  var photoInput = document.getElementById("id_photo");
  var cameraInput = document.getElementById("id_camera");
  document.documentElement.classList.add("js");

  function loadImage(blob) {
    return new Promise(function (resolve, reject) {
      var url = URL.createObjectURL(blob);
      var img = new Image();
      img.onload = function () { resolve(img); };
      img.onerror = function () { URL.revokeObjectURL(url); reject(new Error("not an image")); };
      img.src = url;
    });
  }

  // Draw (a region of) an image scaled so its longest side is at most MAX_SIDE; a JPEG blob.
  function downscale(img, region) {
    region = region || { x: 0, y: 0, w: img.naturalWidth, h: img.naturalHeight };
    var scale = Math.min(1, MAX_SIDE / Math.max(region.w, region.h));
    var canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(region.w * scale));
    canvas.height = Math.max(1, Math.round(region.h * scale));
    var ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(img, region.x, region.y, region.w, region.h, 0, 0, canvas.width, canvas.height);
    return new Promise(function (resolve) {
      canvas.toBlob(function (blob) { resolve({ blob: blob, dataUrl: canvas.toDataURL("image/jpeg", 0.9) }); }, "image/jpeg", 0.9);
    });
  }

  function submitFile(file) {
    var transfer = new DataTransfer();
    transfer.items.add(file);
    photoInput.files = transfer.files;
    if (cameraInput) { cameraInput.value = ""; }
    var token = form.querySelector("input[name=token]");
    if (token) { token.remove(); }
    form.submit();
  }

  // A new photo: downscale, remember it (for the crop box on the results page), search.
  function searchWithPhoto(file) {
    loadImage(file).then(function (img) {
      return downscale(img).then(function (scaled) {
        try {
          sessionStorage.setItem(PHOTO_KEY, scaled.dataUrl);
          sessionStorage.removeItem(CROP_KEY);
        } catch (e) { /* storage full or disabled: the crop box is then unavailable */ }
        submitFile(new File([scaled.blob], "photo.jpg", { type: "image/jpeg" }));
      });
    }).catch(function () {
      // Not decodable here: send it as it is, and let the server say what is wrong with it.
      submitFile(file);
    });
  }

  [photoInput, cameraInput].forEach(function (input) {
    if (!input) { return; }
    input.addEventListener("change", function () {
      if (input.files && input.files[0]) { searchWithPhoto(input.files[0]); }
    });
  });

  // Drag and drop anywhere on the page.
  var overlay = document.getElementById("drop-overlay");
  var dragDepth = 0;
  function hasFiles(event) {
    return event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types, "Files") >= 0;
  }
  document.addEventListener("dragenter", function (event) {
    if (!hasFiles(event)) { return; }
    dragDepth += 1;
    overlay.hidden = false;
  });
  document.addEventListener("dragleave", function () {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) { overlay.hidden = true; }
  });
  document.addEventListener("dragover", function (event) { if (hasFiles(event)) { event.preventDefault(); } });
  document.addEventListener("drop", function (event) {
    if (!hasFiles(event)) { return; }
    event.preventDefault();
    dragDepth = 0;
    overlay.hidden = true;
    if (event.dataTransfer.files[0]) { searchWithPhoto(event.dataTransfer.files[0]); }
  });

  // Paste an image from the clipboard (text pastes into the search box as usual).
  document.addEventListener("paste", function (event) {
    var items = (event.clipboardData && event.clipboardData.items) || [];
    for (var i = 0; i < items.length; i += 1) {
      if (items[i].kind === "file" && items[i].type.indexOf("image/") === 0) {
        event.preventDefault();
        searchWithPhoto(items[i].getAsFile());
        return;
      }
    }
  });

  // --- crop box on the results page ---------------------------------------------------------
  var panel = document.getElementById("query-photo");
  var stored = null;
  try { stored = sessionStorage.getItem(PHOTO_KEY); } catch (e) { stored = null; }
  if (!panel || !stored) { return; }
  var frame = document.createElement("div");
  frame.className = "crop-frame";
  var photo = document.createElement("img");
  photo.alt = "Your photo";
  photo.src = stored;
  var box = document.createElement("div");
  box.className = "crop-box";
  box.tabIndex = 0;
  box.setAttribute("role", "slider");
  box.setAttribute("aria-label", "Search area: arrow keys move it, Shift+arrow keys resize it");
  var handle = document.createElement("div");
  handle.className = "crop-handle";
  box.appendChild(handle);
  frame.appendChild(photo);
  frame.appendChild(box);
  var existing = panel.querySelector("img");
  if (existing) { existing.remove(); }
  panel.insertBefore(frame, panel.firstChild);

  // The crop in fractions of the photo, so it survives layout changes.
  var crop = { x: 0, y: 0, w: 1, h: 1 };
  try { crop = JSON.parse(sessionStorage.getItem(CROP_KEY)) || crop; } catch (e) { /* keep the default */ }
  var MIN = 0.1;

  function clamp() {
    crop.w = Math.min(1, Math.max(MIN, crop.w));
    crop.h = Math.min(1, Math.max(MIN, crop.h));
    crop.x = Math.min(1 - crop.w, Math.max(0, crop.x));
    crop.y = Math.min(1 - crop.h, Math.max(0, crop.y));
  }
  function draw() {
    clamp();
    box.style.left = crop.x * 100 + "%";
    box.style.top = crop.y * 100 + "%";
    box.style.width = crop.w * 100 + "%";
    box.style.height = crop.h * 100 + "%";
    box.setAttribute("aria-valuetext", Math.round(crop.w * 100) + "% by " + Math.round(crop.h * 100) + "% of the photo");
  }
  draw();

  var pending = null;
  function searchAgain() {
    clearTimeout(pending);
    pending = setTimeout(function () {
      try { sessionStorage.setItem(CROP_KEY, JSON.stringify(crop)); } catch (e) { /* ignore */ }
      var w = photo.naturalWidth, h = photo.naturalHeight;
      downscale(photo, { x: crop.x * w, y: crop.y * h, w: crop.w * w, h: crop.h * h }).then(function (scaled) {
        submitFile(new File([scaled.blob], "crop.jpg", { type: "image/jpeg" }));
      });
    }, 400);
  }

  var drag = null;
  box.addEventListener("pointerdown", function (event) {
    event.preventDefault();
    box.setPointerCapture(event.pointerId);
    drag = { resize: event.target === handle, x: event.clientX, y: event.clientY, start: { x: crop.x, y: crop.y, w: crop.w, h: crop.h } };
  });
  box.addEventListener("pointermove", function (event) {
    if (!drag) { return; }
    var rect = frame.getBoundingClientRect();
    var dx = (event.clientX - drag.x) / rect.width, dy = (event.clientY - drag.y) / rect.height;
    if (drag.resize) {
      crop.w = drag.start.w + dx;
      crop.h = drag.start.h + dy;
    } else {
      crop.x = drag.start.x + dx;
      crop.y = drag.start.y + dy;
    }
    draw();
  });
  box.addEventListener("pointerup", function () {
    if (drag) { drag = null; searchAgain(); }
  });
  box.addEventListener("keydown", function (event) {
    var step = 0.05, keys = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    var move = keys[event.key];
    if (!move) { return; }
    event.preventDefault();
    if (event.shiftKey) { crop.w += move[0]; crop.h += move[1]; } else { crop.x += move[0]; crop.y += move[1]; }
    draw();
    searchAgain();
  });
})();
