// A real OpenID provider for the test suite: the certified `oidc-provider` package, on
// 127.0.0.1, with a minimal login policy of its own (a user name and a password form) and
// a few test-only controls under /test/ that a real provider would not have:
//
//   POST /test/clients        register a relying party (JSON client metadata)
//   POST /test/accounts       add a person: {"login", "password", "claims": {...}}
//   POST /test/rotate         sign with a new key from now on (the old one stays published)
//   POST /test/next-id-token  change the ID token of the next token response:
//                             {"claims": {...}} re-signed with changed claims,
//                             {"tamper": {...}} changed claims, original signature kept,
//                             {"key": "unpublished"} signed with a key not in the JWKS,
//                             {"replay": true} the ID token of the previous response
//   POST /test/misbehave      {"mode": "garbage"} every endpoint answers a web page of
//                             nonsense; {"mode": "normal"} back to a working provider
//
// Usage: node tests/oidc_provider.mjs PORT   (prints "listening" once it answers)

import crypto from "node:crypto";
import http from "node:http";

import { Provider } from "oidc-provider";

const port = Number(process.argv[2]);
const issuer = `http://127.0.0.1:${port}`;

const clients = new Map();
const accounts = new Map();
let keys = [signingKey()];
let nextIdToken = null;
let previousIdToken = null;
let mode = "normal";
const cookieKey = crypto.randomBytes(32).toString("hex");
let provider = build();

function signingKey() {
  const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = privateKey.export({ format: "jwk" });
  return {
    privateKey,
    jwk: { ...jwk, kid: crypto.randomUUID(), use: "sig", alg: "RS256" },
  };
}

function build() {
  const built = new Provider(issuer, {
    clients: [...clients.values()],
    jwks: { keys: keys.map((key) => key.jwk) },
    cookies: { keys: [cookieKey] },
    claims: {
      openid: ["sub"],
      email: ["email", "email_verified"],
      profile: ["name", "preferred_username"],
      groups: ["groups"],
    },
    // Claims in the ID token itself, as Keycloak, Entra ID and Okta can be set up to do.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    // A first-party client: every requested scope is granted without a consent screen.
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope(ctx.oidc.params.scope);
      await grant.save();
      return grant;
    },
    async findAccount(ctx, id) {
      const account = accounts.get(id);
      if (!account) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...account.claims }) };
    },
    renderError(ctx, out) {
      ctx.type = "html";
      ctx.body = page("Error", `<p>${escape(out.error)}: ${escape(out.error_description || "")}</p>`);
    },
  });
  built.use(changeIdToken);
  return built;
}

async function changeIdToken(ctx, next) {
  await next();
  if (ctx.oidc?.route !== "token" || !ctx.body?.id_token) return;
  const genuine = ctx.body.id_token;
  if (nextIdToken) {
    ctx.body = { ...ctx.body, id_token: craft(genuine, nextIdToken) };
    nextIdToken = null;
  }
  previousIdToken = genuine;
}

function craft(token, plan) {
  if (plan.replay) return previousIdToken;
  const [header, payload, signature] = token.split(".");
  const claims = { ...decode(payload), ...(plan.claims || plan.tamper || {}) };
  const body = encode(claims);
  if (plan.tamper) return `${header}.${body}.${signature}`;
  const key = plan.key === "unpublished" ? signingKey() : keys[0];
  return sign({ alg: "RS256", typ: "JWT", kid: key.jwk.kid }, body, key);
}

function sign(header, body, key) {
  const input = `${encode(header)}.${body}`;
  const signature = crypto.sign("sha256", Buffer.from(input), key.privateKey);
  return `${input}.${signature.toString("base64url")}`;
}

const encode = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
const decode = (part) => JSON.parse(Buffer.from(part, "base64url").toString());

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><main><h1>${title}</h1>${body}</main></body></html>`;
}

async function logoutSource(ctx, form) {
  ctx.body = page(
    "Sign out",
    `${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>`,
  );
}

async function postLogoutSuccessSource(ctx) {
  ctx.body = page("Signed out", "<p>You are signed out.</p>");
}

function loginForm(uid, error) {
  const alert = error ? `<p role="alert">${escape(error)}</p>` : "";
  return page(
    "Company sign-in",
    `${alert}<form method="post" action="/interaction/${uid}/login">
      <label for="login">User name</label><input id="login" name="login" autocomplete="username">
      <label for="password">Password</label><input id="password" name="password" type="password">
      <button type="submit">Continue</button></form>`,
  );
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

function answer(res, status, body, type = "application/json") {
  res.writeHead(status, { "content-type": type });
  res.end(typeof body === "string" ? body : JSON.stringify(body));
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return answer(res, 400, page("Error", "<p>stale interaction</p>"), "text/html");
  if (action === undefined) return answer(res, 200, loginForm(uid), "text/html");
  const form = new URLSearchParams(await readBody(req));
  const account = accounts.get(form.get("login"));
  if (!account || account.password !== form.get("password")) {
    return answer(res, 401, loginForm(uid, "Wrong user name or password."), "text/html");
  }
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: form.get("login") } },
    { mergeWithLastSubmission: false },
  );
}

async function control(req, res, path) {
  const body = JSON.parse((await readBody(req)) || "{}");
  switch (path) {
    case "/test/clients":
      clients.set(body.client_id, body);
      provider = build();
      return answer(res, 200, { client_id: body.client_id });
    case "/test/accounts":
      accounts.set(body.login, { password: body.password, claims: body.claims || {} });
      return answer(res, 200, { login: body.login });
    case "/test/rotate":
      keys = [signingKey(), ...keys];
      provider = build();
      return answer(res, 200, { kids: keys.map((key) => key.jwk.kid) });
    case "/test/next-id-token":
      nextIdToken = body;
      return answer(res, 200, body);
    case "/test/misbehave":
      mode = body.mode;
      return answer(res, 200, { mode });
    default:
      return answer(res, 404, { error: "no such control" });
  }
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  try {
    if (req.method === "POST" && url.pathname.startsWith("/test/")) {
      return await control(req, res, url.pathname);
    }
    if (mode === "garbage") {
      return answer(res, 200, "<html><body>Gateway says hello</body></html>", "text/html");
    }
    const match = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login))?$/);
    if (match) return await interaction(req, res, match[1], match[2]);
    return provider.callback()(req, res);
  } catch (error) {
    if (!res.headersSent) answer(res, 500, page("Error", `<p>${escape(error.message)}</p>`), "text/html");
    else res.end();
  }
});

server.listen(port, "127.0.0.1", () => console.log("listening"));
