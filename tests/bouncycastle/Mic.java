// The MIC of an unsigned, unencrypted AS2 message as BouncyCastle-based AS2 products compute
// it, for tests/interop_bouncycastle.rs. An independent implementation: it shares no code or
// logic with the Rust crate; it parses and writes MIME with JavaMail and digests with the
// BouncyCastle provider, the way the BC-based products do.
//
// RFC 4130 section 7.3.1: "For unsigned, unencrypted messages, the MIC MUST be calculated over
// the message contents without the MIME or any other RFC 2822 headers". BouncyCastle itself has
// no MIC function (only signatures, whose digest covers the signed entity with its headers), so
// this follows the two open BC-based AS2 products:
//
// - phax/as2-lib (BCCryptoHelper.calculateMIC, includeHeaders = false when the message is
//   neither signed, encrypted nor compressed): the part's content written through
//   MimeUtility.encode(out, part.getEncoding()), i.e. the body with its
//   Content-Transfer-Encoding applied, as transferred. Printed as "as2lib".
// - OpenAS2 (BCCryptoHelper.calculateMIC, includeHeaders = signed || encrypted): the part's
//   decoded content (getInputStream), line ends canonicalised to CRLF unless the transfer
//   encoding is binary, leading CRLFs trimmed. Printed as "openas2".
//
// For "Content-Transfer-Encoding: binary" (the AS2 default, and what as2-proto sends) both are
// the body bytes as transferred.
//
// Usage (classpath: bcprov, bcutil, bcpkix, bcmail, javax.mail, javax.activation):
//   java Mic mic <headers-file> <body-file> <micalg>
//       Receives a message (its HTTP headers, CRLF lines ending with an empty line, and its
//       body) as a BC-based receiver does and prints "as2lib: <mic>" and "openas2: <mic>".
//   java Mic unwrap <headers-file> <body-file> <recipient.crt> <recipient.key> <signer.crt> <out>
//       Unwraps a message layer by layer with BouncyCastle's streaming S/MIME parsers
//       (SMIMEEnvelopedParser, SMIMECompressedParser, SMIMESignedParser, which read BER with
//       indefinite lengths and segmented OCTET STRINGs), verifies every signature against
//       <signer.crt>, writes the payload to <out> and prints "layer: <kind>" per layer and
//       "payload: <bytes>".
//   java Mic make <out-dir> <transfer-encoding> <micalg>
//       Sends a plain message as a BC-based sender does: writes <out-dir>/headers (HTTP
//       headers), <out-dir>/body and <out-dir>/mic, the Received-Content-MIC the sender
//       expects back (as2-lib's rule, computed on the message as received).

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.Security;
import java.util.Enumeration;
import java.util.Locale;

import javax.mail.internet.InternetHeaders;
import javax.mail.internet.MimeBodyPart;
import javax.mail.internet.MimeUtility;

import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.mail.smime.util.CRLFOutputStream;
import org.bouncycastle.util.encoders.Base64;

public final class Mic {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        if (args.length == 4 && args[0].equals("mic")) {
            byte[] headers = Files.readAllBytes(Paths.get(args[1]));
            byte[] body = Files.readAllBytes(Paths.get(args[2]));
            MimeBodyPart part = received(headers, body);
            System.out.println("as2lib: " + as2libMic(part, args[3]));
            System.out.println("openas2: " + openas2Mic(part, args[3]));
        } else if (args.length == 7 && args[0].equals("unwrap")) {
            unwrap(args);
        } else if (args.length == 4 && args[0].equals("make")) {
            make(Paths.get(args[1]), args[2], args[3]);
        } else {
            System.err.println("usage: Mic mic <headers> <body> <micalg> | Mic make <dir> <cte> <micalg>");
            System.exit(2);
        }
    }

    /** The message as a receiver sees it: a MIME part made of the HTTP headers and body. */
    static MimeBodyPart received(byte[] headers, byte[] body) throws Exception {
        InternetHeaders h = new InternetHeaders(new ByteArrayInputStream(headers));
        return new MimeBodyPart(h, body);
    }

    /** Unwraps layer by layer as a BouncyCastle-based receiver does (see the usage above). */
    static void unwrap(String[] args) throws Exception {
        byte[] headers = Files.readAllBytes(Paths.get(args[1]));
        byte[] body = Files.readAllBytes(Paths.get(args[2]));
        java.security.cert.CertificateFactory x509 =
                java.security.cert.CertificateFactory.getInstance("X.509");
        java.security.cert.X509Certificate recipient;
        java.security.cert.X509Certificate signer;
        try (InputStream in = Files.newInputStream(Paths.get(args[3]))) {
            recipient = (java.security.cert.X509Certificate) x509.generateCertificate(in);
        }
        try (InputStream in = Files.newInputStream(Paths.get(args[5]))) {
            signer = (java.security.cert.X509Certificate) x509.generateCertificate(in);
        }
        java.security.PrivateKey key;
        try (org.bouncycastle.openssl.PEMParser pem = new org.bouncycastle.openssl.PEMParser(
                Files.newBufferedReader(Paths.get(args[4]), StandardCharsets.US_ASCII))) {
            key = new org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter().setProvider("BC")
                    .getPrivateKey((org.bouncycastle.asn1.pkcs.PrivateKeyInfo) pem.readObject());
        }
        MimeBodyPart part = received(headers, body);
        for (int depth = 0; depth < 8; depth++) {
            String type = part.getContentType().toLowerCase(Locale.ROOT);
            if (type.startsWith("multipart/signed")) {
                System.out.println("layer: signed");
                org.bouncycastle.mail.smime.SMIMESignedParser signed =
                        new org.bouncycastle.mail.smime.SMIMESignedParser(
                                new org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder()
                                        .setProvider("BC").build(),
                                (javax.mail.internet.MimeMultipart) part.getContent());
                MimeBodyPart content = signed.getContent();
                verify(signed, signer);
                part = content;
            } else if (type.contains("enveloped-data")) {
                System.out.println("layer: enveloped");
                org.bouncycastle.mail.smime.SMIMEEnvelopedParser env =
                        new org.bouncycastle.mail.smime.SMIMEEnvelopedParser(part);
                org.bouncycastle.cms.RecipientInformation info = env.getRecipientInfos().get(
                        new org.bouncycastle.cms.jcajce.JceKeyTransRecipientId(recipient));
                if (info == null) {
                    throw new IllegalStateException("no RecipientInfo for " + recipient.getSubjectX500Principal());
                }
                part = org.bouncycastle.mail.smime.SMIMEUtil.toMimeBodyPart(info.getContentStream(
                        new org.bouncycastle.cms.jcajce.JceKeyTransEnvelopedRecipient(key).setProvider("BC")));
            } else if (type.contains("compressed-data")) {
                System.out.println("layer: compressed");
                org.bouncycastle.mail.smime.SMIMECompressedParser compressed =
                        new org.bouncycastle.mail.smime.SMIMECompressedParser(part);
                part = org.bouncycastle.mail.smime.SMIMEUtil.toMimeBodyPart(compressed.getContent(
                        new org.bouncycastle.cms.jcajce.ZlibExpanderProvider()));
            } else if (type.contains("signed-data")) {
                System.out.println("layer: signed");
                org.bouncycastle.mail.smime.SMIMESignedParser signed =
                        new org.bouncycastle.mail.smime.SMIMESignedParser(
                                new org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder()
                                        .setProvider("BC").build(),
                                part);
                MimeBodyPart content = signed.getContent();
                // Reading the content drives the digest calculation before verification.
                ByteArrayOutputStream copy = new ByteArrayOutputStream();
                content.writeTo(copy);
                verify(signed, signer);
                part = new MimeBodyPart(new ByteArrayInputStream(copy.toByteArray()));
            } else {
                byte[] payload;
                try (InputStream in = part.getInputStream()) {
                    payload = in.readAllBytes();
                }
                Files.write(Paths.get(args[6]), payload);
                System.out.println("payload: " + payload.length);
                return;
            }
        }
        throw new IllegalStateException("more than 8 layers");
    }

    static void verify(org.bouncycastle.cms.CMSSignedDataParser signed,
            java.security.cert.X509Certificate signer) throws Exception {
        // SMIMESignedParser has already read the content (into a temporary file), which
        // computed the digests; draining it again would fail.
        int verified = 0;
        for (org.bouncycastle.cms.SignerInformation info : signed.getSignerInfos().getSigners()) {
            if (!info.verify(new org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder()
                    .setProvider("BC").build(signer))) {
                throw new IllegalStateException("signature does not verify");
            }
            verified++;
        }
        if (verified == 0) {
            throw new IllegalStateException("no SignerInfo");
        }
    }

    static MessageDigest digest(String micalg) throws Exception {
        String name = micalg.trim().toUpperCase(Locale.ROOT).replace("-", "");
        // sha1 -> SHA-1, sha256 -> SHA-256, ...
        return MessageDigest.getInstance("SHA-" + name.substring(3), "BC");
    }

    static String field(byte[] digest, String micalg) {
        return new String(Base64.encode(digest), StandardCharsets.US_ASCII) + ", " + micalg;
    }

    /** phax/as2-lib without headers: the content with its transfer encoding applied. */
    static String as2libMic(MimeBodyPart part, String micalg) throws Exception {
        MessageDigest md = digest(micalg);
        try (DigestOutputStream dos = new DigestOutputStream(OutputStream.nullOutputStream(), md);
             OutputStream os = MimeUtility.encode(dos, part.getEncoding())) {
            part.getDataHandler().writeTo(os);
        }
        return field(md.digest(), micalg);
    }

    /** OpenAS2 without headers: the decoded content, canonicalised unless binary. */
    static String openas2Mic(MimeBodyPart part, String micalg) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        String encoding = part.getEncoding();
        if (encoding == null) {
            encoding = "binary"; // OpenAS2's Session.DEFAULT_CONTENT_TRANSFER_ENCODING
        }
        OutputStream os = "binary".equals(encoding) ? bytes : new CRLFOutputStream(bytes);
        try (InputStream in = part.getInputStream()) {
            in.transferTo(os);
        }
        os.flush();
        byte[] data = bytes.toByteArray();
        int start = 0;
        while (start + 1 < data.length && data[start] == '\r' && data[start + 1] == '\n') {
            start += 2;
        }
        MessageDigest md = digest(micalg);
        md.update(data, start, data.length - start);
        return field(md.digest(), micalg);
    }

    /** An X12 purchase order, CRLF-terminated segments, with a non-ASCII byte. */
    static byte[] payload() {
        String edi = "ISA*00*          *00*          *ZZ*BCSENDER       *ZZ*AS2PROTO       "
                + "*240101*1200*U*00401*000000042*0*P*>~\r\n"
                + "GS*PO*BCSENDER*AS2PROTO*20240101*1200*42*X*004010~\r\n"
                + "ST*850*0001~\r\n"
                + "BEG*00*SA*PO-4130*20240101~\r\n"
                + "PID*F****Caf\u00e9 au lait~\r\n"
                + "SE*4*0001~\r\n"
                + "GE*1*42~\r\n"
                + "IEA*1*000000042~\r\n";
        return edi.getBytes(StandardCharsets.ISO_8859_1);
    }

    static void make(Path dir, String cte, String micalg) throws Exception {
        Files.createDirectories(dir);
        // The payload part, as as2-lib's sender builds it (AS2ClientBuilder / AS2Sender).
        MimeBodyPart part = new MimeBodyPart();
        part.setDataHandler(new javax.activation.DataHandler(
                new javax.mail.util.ByteArrayDataSource(payload(), "application/edi-x12")));
        part.setHeader("Content-Type", "application/edi-x12");
        part.setHeader("Content-Transfer-Encoding", cte);
        part.setHeader("Content-Disposition", "attachment; filename=\"po-4130.x12\"");

        // HTTP headers: the AS2 ones, then the part's MIME headers (they travel as HTTP
        // headers at the top level).
        StringBuilder h = new StringBuilder();
        h.append("AS2-Version: 1.2\r\n");
        h.append("AS2-From: bcsender\r\n");
        h.append("AS2-To: as2proto\r\n");
        h.append("Message-ID: <bc-plain-").append(cte).append("@bouncycastle.test>\r\n");
        h.append("Date: Mon, 01 Jan 2024 12:00:00 GMT\r\n");
        h.append("MIME-Version: 1.0\r\n");
        h.append("Subject: plain message from a BouncyCastle sender\r\n");
        h.append("Disposition-Notification-To: mdn@bouncycastle.test\r\n");
        h.append("Disposition-Notification-Options: signed-receipt-protocol=optional, ")
                .append("pkcs7-signature; signed-receipt-micalg=optional, ").append(micalg).append("\r\n");
        for (Enumeration<?> e = part.getAllHeaderLines(); e.hasMoreElements();) {
            h.append((String) e.nextElement()).append("\r\n");
        }
        h.append("\r\n");
        byte[] headers = h.toString().getBytes(StandardCharsets.US_ASCII);

        // The HTTP body: the content with its transfer encoding applied (as2-lib's sender
        // writes it the same way).
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        try (OutputStream os = MimeUtility.encode(new NonClosing(body), cte)) {
            part.getDataHandler().writeTo(os);
        }

        // The MIC the sender expects back, computed on the message as the receiver gets it.
        String mic = as2libMic(received(headers, body.toByteArray()), micalg);
        Files.write(dir.resolve("headers"), headers);
        Files.write(dir.resolve("body"), body.toByteArray());
        Files.write(dir.resolve("mic"), mic.getBytes(StandardCharsets.US_ASCII));
        System.out.println("as2lib: " + mic);
    }

    /** Keeps the encoder's close from closing the buffer. */
    static final class NonClosing extends java.io.FilterOutputStream {
        NonClosing(OutputStream out) {
            super(out);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
        }

        @Override
        public void close() throws IOException {
            flush();
        }
    }
}
