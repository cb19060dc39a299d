import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";

export interface HomelabTlsArgs {
  /** The homelab's DNS domain (homelab:domain): the wildcard certificate covers it and *.domain. */
  readonly domain: string;
  /** Where the CA certificate is written for the owner to trust (relative to the project). */
  readonly caCertificateFile: string;
}

/** Ten years: a homelab CA the owner trusts once, on every device. */
const CA_HOURS = 10 * 365 * 24;
/** About 13 months (browsers refuse server certificates valid longer than 398 days). */
const SERVER_HOURS = 397 * 24;
/** Re-issued by `pulumi up` in its last month, so a regular run never lets it lapse. */
const SERVER_EARLY_RENEWAL_HOURS = 30 * 24;

/**
 * The homelab's own certificate authority and a wildcard certificate for the domain, from
 * @pulumi/tls (keys made and kept as secrets in the state; nothing leaves this machine). The CA
 * certificate is public: a stack output and a file to install as trusted. Traefik serves the
 * wildcard certificate (a Swarm secret), so every routed host is HTTPS without ACME; a real domain
 * may use ACME by DNS challenge instead.
 */
export class HomelabTls extends pulumi.ComponentResource {
  /** The CA certificate (PEM), to trust on the owner's devices. */
  public readonly caCertificatePem: pulumi.Output<string>;
  /** The wildcard certificate (PEM) for `domain` and `*.domain`. */
  public readonly certificatePem: pulumi.Output<string>;
  /** Its private key (PEM, a secret). */
  public readonly privateKeyPem: pulumi.Output<string>;
  /** Where the CA certificate file is, once written. */
  public readonly caCertificatePath: pulumi.Output<string>;

  constructor(name: string, args: HomelabTlsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("homelab:platform:Tls", name, {}, opts);
    const parent = { parent: this };
    // ECDSA P-256: small, fast on a Pi, accepted everywhere a homelab certificate is used.
    const caKey = new tls.PrivateKey(`${name}-ca-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, parent);
    const ca = new tls.SelfSignedCert(
      `${name}-ca`,
      {
        privateKeyPem: caKey.privateKeyPem,
        isCaCertificate: true,
        subject: { commonName: `homelab CA (${args.domain})`, organization: "homelab" },
        validityPeriodHours: CA_HOURS,
        allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
      },
      parent,
    );
    const serverKey = new tls.PrivateKey(`${name}-wildcard-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, parent);
    const request = new tls.CertRequest(
      `${name}-wildcard-request`,
      { privateKeyPem: serverKey.privateKeyPem, subject: { commonName: `*.${args.domain}` }, dnsNames: [args.domain, `*.${args.domain}`] },
      parent,
    );
    const certificate = new tls.LocallySignedCert(
      `${name}-wildcard`,
      {
        certRequestPem: request.certRequestPem,
        caPrivateKeyPem: caKey.privateKeyPem,
        caCertPem: ca.certPem,
        validityPeriodHours: SERVER_HOURS,
        earlyRenewalHours: SERVER_EARLY_RENEWAL_HOURS,
        allowedUses: ["digital_signature", "key_encipherment", "server_auth"],
      },
      parent,
    );
    // Like the Ignition files: written by a local command, so a preview writes nothing.
    const file = args.caCertificateFile;
    const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/")) : ".";
    const written = new command.local.Command(
      `${name}-ca-file`,
      { create: `mkdir -p '${dir}' && cat > '${file}'`, delete: `rm -f '${file}'`, stdin: ca.certPem, logging: "stderr" },
      parent,
    );
    this.caCertificatePem = ca.certPem;
    this.certificatePem = certificate.certPem;
    this.privateKeyPem = pulumi.secret(serverKey.privateKeyPem);
    this.caCertificatePath = written.stdin.apply(() => file);
    this.registerOutputs({ caCertificatePem: this.caCertificatePem, certificatePem: this.certificatePem, caCertificatePath: this.caCertificatePath });
  }
}
