// Tell the server the browser's time zone, so that deadlines show in the reader's own time.
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (!zone) return;
    var current = (document.cookie.match(/(?:^|; )tz=([^;]*)/) || [])[1];
    if (decodeURIComponent(current || "") !== zone) {
      document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) { /* older browsers: the portal's time zone applies */ }
})();
