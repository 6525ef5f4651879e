"use strict";
// Runs the README's SDK example as written: the block after
// <!-- sdk-example -->, with only its baseURL and tenant replaced.
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const { env, makeWx } = require("./shim.js");

test("the README's SDK example runs as written", async () => {
  const readme = fs.readFileSync(path.join(__dirname, "../../../README.md"), "utf8");
  const after = readme.split("<!-- sdk-example -->")[1];
  assert.ok(after, "README.md has no sdk-example block");
  let code = after.split("```js\n")[1].split("```")[0];
  for (const [from, to] of [
    ['baseURL: "https://auth.example.com"', `baseURL: "${env.urls[0]}"`],
    ['tenant: "demo"', `tenant: "${env.tenant}"`],
  ]) {
    assert.ok(code.includes(from), `the example no longer has ${from}`);
    code = code.replace(from, to);
  }

  const wx = makeWx("readme-user");
  wx.reLaunch = () => {};
  let app, page;
  const sandbox = {
    wx,
    console,
    require: (name) => {
      assert.equal(name, "./miniauth");
      return require("../miniauth.js");
    },
    App: (o) => { app = o; },
    Page: (o) => { page = o; },
    getApp: () => app,
  };
  // In a mini-program wx is a global, for the SDK's module too.
  globalThis.wx = wx;
  test.after(() => { delete globalThis.wx; });
  vm.runInNewContext(code, sandbox, { filename: "README.md#sdk-example" });
  app.onLaunch();
  page.setData = (d) => Object.assign(page.data, d);
  await page.onLoad({});
  assert.ok(page.data.user && page.data.user.id, "the page shows the signed-in user");
  assert.equal(page.data.user.id, app.auth.user().id);
});
