'use strict'
// The package as users get it: the main tarball (JS, types, Rust sources, no binary) and the
// linux-x64-gnu tarball (the binary, as npm/linux-x64-gnu/ describes it) install into an empty project
// with no registry reachable and no cargo on PATH, then load in both module systems and make real
// requests to a server here. Without the platform package, loading fails with an error naming the
// platform and the way to build from source.

const { test } = require('node:test')
const assert = require('node:assert')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const http = require('node:http')
const { promisify } = require('node:util')
const { execFile } = require('node:child_process')
const { once } = require('node:events')
const { platformName } = require('../scripts/platform.js')

const run = promisify(execFile)
const root = path.join(__dirname, '..')
const PLATFORM = 'linux-x64-gnu'
const binaryFile = `keepalive-agent.${PLATFORM}.node`

/** PATH with this test's Node first and no directory that holds cargo (a user without Rust). */
function pathWithoutCargo () {
  const dirs = process.env.PATH.split(path.delimiter).filter(dir => dir && !fs.existsSync(path.join(dir, 'cargo')))
  return [path.dirname(process.execPath), ...dirs].join(path.delimiter)
}

async function npm (args, cwd, env) {
  const { stdout } = await run('npm', args, { cwd, env, timeout: 120000, maxBuffer: 16 * 1024 * 1024 })
  return stdout
}

/** Packs the repository and the platform package (a copy of npm/linux-x64-gnu/ with the built binary). */
async function packBoth (dir, env) {
  const [main] = JSON.parse(await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], root, env))
  const platformDir = path.join(dir, PLATFORM)
  fs.cpSync(path.join(root, 'npm', PLATFORM), platformDir, { recursive: true })
  fs.copyFileSync(path.join(root, binaryFile), path.join(platformDir, binaryFile))
  const [platform] = JSON.parse(await npm(['pack', '--json', '--pack-destination', dir], platformDir, env))
  return { main, platform }
}

const CONSUMERS = {
  'consumer.cjs': `
    const Agent = require('keepalive-agent')
    const { HttpsAgent } = require('keepalive-agent')
    const http = require('node:http')
    main().catch(err => { console.error(err); process.exit(1) })
    async function main () {
      const agent = new Agent()
      const promiseFace = await (await agent.request(process.env.TARGET)).text()
      const socketFace = await new Promise((resolve, reject) => {
        http.get(process.env.TARGET, { agent }, res => { let body = ''; res.setEncoding('utf8'); res.on('data', c => { body += c }); res.on('end', () => resolve(body)) }).on('error', reject)
      })
      agent.destroy()
      const binary = require.resolve('keepalive-agent-${PLATFORM}')
      console.log(JSON.stringify({ promiseFace, socketFace, binary, https: new HttpsAgent() instanceof Agent }))
      process.exit(0)
    }`,
  'consumer.mjs': `
    import Agent, { HttpsAgent } from 'keepalive-agent'
    import { createRequire } from 'node:module'
    const agent = new Agent()
    const promiseFace = await (await agent.request(process.env.TARGET)).text()
    agent.destroy()
    const binary = createRequire(import.meta.url).resolve('keepalive-agent-${PLATFORM}')
    console.log(JSON.stringify({ promiseFace, binary, https: new HttpsAgent() instanceof Agent }))
    process.exit(0)`
}

test('packed tarballs install offline without cargo and work from CommonJS and ESM', {
  skip: platformName() !== PLATFORM && `the built platform package is ${PLATFORM}, this is ${platformName()}`
}, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keepalive-agent-pack-'))
  const server = http.createServer((req, res) => res.end(`hello ${req.url}`))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  try {
    // No registry (a closed port on 127.0.0.1) and an empty npm cache: only the two tarballs exist.
    const env = {
      ...process.env,
      PATH: pathWithoutCargo(),
      npm_config_registry: 'http://127.0.0.1:9/',
      npm_config_cache: path.join(dir, 'npm-cache'),
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false'
    }
    await assert.rejects(run('cargo', ['--version'], { env }), { code: 'ENOENT' })

    const { main, platform } = await packBoth(dir, process.env)
    const packed = main.files.map(f => f.path)
    for (const file of ['index.js', 'index.d.ts', 'native.js', 'register.js', 'register.mjs', 'binding.js', 'Cargo.toml', 'Cargo.lock', 'build.rs', 'src/lib.rs', 'scripts/build-native.js']) {
      assert.ok(packed.includes(file), `${file} is in the main tarball`)
    }
    assert.deepStrictEqual(packed.filter(f => f.endsWith('.node') || f.startsWith('__test__/') || f.startsWith('target/')), [])
    assert.deepStrictEqual(platform.files.map(f => f.path).sort(), ['README.md', binaryFile, 'package.json'])

    const app = path.join(dir, 'app')
    fs.mkdirSync(app)
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }))
    await npm(['install', '--offline', '--no-package-lock', path.join(dir, main.filename), path.join(dir, platform.filename)], app, env)
    for (const [name, source] of Object.entries(CONSUMERS)) fs.writeFileSync(path.join(app, name), source)

    const target = `http://127.0.0.1:${server.address().port}/x`
    const childEnv = { ...env, TARGET: target }
    const options = { cwd: app, env: childEnv, timeout: 30000 }
    const installed = fs.realpathSync(path.join(app, 'node_modules', `keepalive-agent-${PLATFORM}`, binaryFile))
    const cjs = JSON.parse((await run(process.execPath, ['consumer.cjs'], options)).stdout)
    assert.deepStrictEqual(cjs, { promiseFace: 'hello /x', socketFace: 'hello /x', binary: installed, https: true })
    const esm = JSON.parse((await run(process.execPath, ['consumer.mjs'], options)).stdout)
    assert.deepStrictEqual(esm, { promiseFace: 'hello /x', binary: installed, https: true })

    // Without the platform package: the error names the platform and how to build from source.
    fs.rmSync(path.join(app, 'node_modules', `keepalive-agent-${PLATFORM}`), { recursive: true })
    const probe = "try { require('keepalive-agent') } catch (err) { console.log(JSON.stringify({ code: err.code, message: err.message })) }"
    const failed = JSON.parse((await run(process.execPath, ['-e', probe], options)).stdout)
    const installedDir = fs.realpathSync(path.join(app, 'node_modules', 'keepalive-agent'))
    assert.strictEqual(failed.code, 'ERR_DLOPEN_FAILED')
    assert.match(failed.message, new RegExp(`no native binary loads on this platform \\(${PLATFORM}\\)`))
    assert.ok(failed.message.includes(`the package keepalive-agent-${PLATFORM}`), failed.message)
    assert.ok(failed.message.includes('https://rustup.rs'), failed.message)
    assert.ok(failed.message.includes(`node ${path.join(installedDir, 'scripts', 'build-native.js')}`), failed.message)
  } finally {
    server.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
