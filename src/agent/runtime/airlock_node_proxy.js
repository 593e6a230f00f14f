'use strict';
// airlock (docs/egress.md): Node before 22.21 reads neither HTTP(S)_PROXY nor
// NODE_USE_ENV_PROXY, so unmodified code's http, https and fetch would find no way out of a
// sandbox whose only route is airlock's egress proxy. Preloaded (NODE_OPTIONS --require) in
// execs with the network: every connection becomes a CONNECT tunnel through the proxy, which
// applies the policy and records it. A newer Node does this itself; then this file does nothing.
(function airlockNodeProxy() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 21)) return;
  const env = process.env;
  const raw = env.HTTPS_PROXY || env.https_proxy || env.HTTP_PROXY || env.http_proxy;
  let proxy;
  try {
    proxy = new URL(raw);
  } catch {
    return;
  }
  const net = require('net');
  const tls = require('tls');
  const http = require('http');
  const https = require('https');
  const zlib = require('zlib');
  const { Readable } = require('stream');
  const noProxy = (env.NO_PROXY || env.no_proxy || '').split(',').map((s) => s.trim()).filter(Boolean);
  const bypass = (host) => noProxy.some((p) => host === p || (p.startsWith('.') && host.endsWith(p)));
  const HEAD_MAX = 16384;

  // A socket to host:port through the proxy's CONNECT, or the proxy's refusal as an error.
  function tunnel(host, port, cb) {
    const sock = net.connect(Number(proxy.port) || 80, proxy.hostname);
    let head = Buffer.alloc(0);
    let settled = false;
    const fail = (e) => {
      if (settled) return;
      settled = true;
      sock.destroy();
      cb(e);
    };
    const onData = (d) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > HEAD_MAX) fail(new Error('egress proxy: answer head too long'));
        return;
      }
      sock.removeListener('data', onData);
      const text = head.subarray(0, end).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (!status || status[1] !== '200') {
        const why = /^x-airlock-egress-reason:[ \t]*(.*)$/im.exec(text);
        const e = new Error(`egress proxy refused ${host}:${port}: ${status ? status[1] : 'no answer'}` +
          (why ? ` (${why[1].trim()})` : ''));
        e.code = 'EPROXYREFUSED';
        fail(e);
        return;
      }
      settled = true;
      sock.removeListener('error', fail);
      const rest = head.subarray(end + 4);
      if (rest.length) sock.unshift(rest);
      cb(null, sock);
      sock.resume();
    };
    sock.once('error', fail);
    sock.once('connect', () => sock.write(`CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`));
    sock.on('data', onData);
  }

  const hostOf = (o) => (o.host || o.hostname || 'localhost').replace(/^\[|\]$/g, '');

  class HttpTunnelAgent extends http.Agent {
    createConnection(o, cb) {
      const host = hostOf(o);
      if (bypass(host)) return net.connect(o);
      tunnel(host, o.port || 80, cb);
      return undefined;
    }
  }

  class HttpsTunnelAgent extends https.Agent {
    createConnection(o, cb) {
      const host = hostOf(o);
      if (bypass(host)) return tls.connect(o);
      tunnel(host, o.port || 443, (e, sock) => {
        if (e) return cb(e);
        const servername = o.servername || (net.isIP(host) ? undefined : host);
        return cb(null, tls.connect({ ...o, socket: sock, servername }));
      });
      return undefined;
    }
  }

  const httpAgent = new HttpTunnelAgent({ keepAlive: true });
  const httpsAgent = new HttpsTunnelAgent({ keepAlive: true });
  http.globalAgent = httpAgent;
  https.globalAgent = httpsAgent;
  try {
    // What http.request falls back to when no agent is given (Node 18 reads it here).
    require('_http_agent').globalAgent = httpAgent;
  } catch {
    /* a Node without the legacy module: http.globalAgent is enough */
  }

  const origFetch = globalThis.fetch;
  if (typeof origFetch !== 'function') return;
  const REDIRECTS = [301, 302, 303, 307, 308];
  const NULL_BODY = [101, 204, 205, 304];

  function decoded(res) {
    const enc = String(res.headers['content-encoding'] || '').toLowerCase();
    if (enc === 'gzip' || enc === 'x-gzip') return res.pipe(zlib.createGunzip());
    if (enc === 'deflate') return res.pipe(zlib.createInflate());
    if (enc === 'br') return res.pipe(zlib.createBrotliDecompress());
    return res;
  }

  // fetch over the agents above: the same Request and Response objects, redirects followed.
  globalThis.fetch = async function fetch(input, init) {
    let req = new Request(input, init);
    for (let hops = 0; ; hops++) {
      const url = new URL(req.url);
      if ((url.protocol !== 'http:' && url.protocol !== 'https:') || bypass(url.hostname)) {
        return origFetch(req);
      }
      const body = req.body ? Buffer.from(await req.arrayBuffer()) : null;
      let res;
      try {
        res = await new Promise((resolve, reject) => {
          const headers = {};
          req.headers.forEach((v, k) => {
            headers[k] = v;
          });
          const mod = url.protocol === 'https:' ? https : http;
          const r = mod.request(url, { method: req.method, headers, signal: req.signal }, resolve);
          r.on('error', reject);
          r.end(body || undefined);
        });
      } catch (cause) {
        if (cause && cause.name === 'AbortError') throw cause;
        throw new TypeError('fetch failed', { cause });
      }
      const status = res.statusCode;
      if (REDIRECTS.includes(status) && res.headers.location && req.redirect !== 'manual') {
        res.resume();
        if (req.redirect === 'error') throw new TypeError('fetch failed: redirect');
        if (hops >= 20) throw new TypeError('fetch failed: too many redirects');
        const method = status === 303 || ((status === 301 || status === 302) && req.method === 'POST')
          ? 'GET' : req.method;
        req = new Request(new URL(res.headers.location, url), {
          method,
          headers: req.headers,
          body: method === 'GET' || method === 'HEAD' ? undefined : body,
          redirect: req.redirect,
          signal: req.signal,
        });
        continue;
      }
      const headers = new Headers();
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
      const empty = NULL_BODY.includes(status) || req.method === 'HEAD';
      if (empty) res.resume();
      const out = new Response(empty ? null : Readable.toWeb(decoded(res)), {
        status,
        statusText: res.statusMessage,
        headers,
      });
      Object.defineProperty(out, 'url', { value: url.href });
      Object.defineProperty(out, 'redirected', { value: hops > 0 });
      return out;
    }
  };
})();
