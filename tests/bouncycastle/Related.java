// Multiple attachments (RFC 6362) with BouncyCastle's S/MIME API and JavaMail, an
// implementation that shares no code with the crate:
//
//   java Related sign CERT KEY OUT_DIR FILE:TYPE:NAME[:base64] ...
//       builds a multipart/related (type = the first part's type) of the files, each part
//       with its Content-Type, Content-Disposition file name and Content-Transfer-Encoding
//       (binary, or base64 when asked), signs it with SMIMESignedGenerator (SHA-256,
//       binary) and writes OUT_DIR/headers (the signed entity's Content-Type as an HTTP
//       header block) and OUT_DIR/body (the multipart/signed body);
//
//   java Related read CONTENT_TYPE_FILE BODY CERT
//       reads a multipart/signed entity whose Content-Type is in CONTENT_TYPE_FILE,
//       verifies its signature against CERT, and prints `verified: true`, the signed
//       entity's `type` parameter and, per part, `part.N.type`, `part.N.name`,
//       `part.N.size` and `part.N.sha256` of the decoded bytes.
//
// Output lines are `name: value`.

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.FileReader;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.Security;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Collections;
import java.util.Properties;

import javax.activation.DataHandler;
import javax.mail.Session;
import javax.mail.internet.ContentType;
import javax.mail.internet.MimeBodyPart;
import javax.mail.internet.MimeMultipart;
import javax.mail.internet.MimeUtility;
import javax.mail.util.ByteArrayDataSource;

import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cert.jcajce.JcaCertStore;
import org.bouncycastle.cms.SignerInformation;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoGeneratorBuilder;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.mail.smime.SMIMESigned;
import org.bouncycastle.mail.smime.SMIMESignedGenerator;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;

public class Related {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        if (args[0].equals("sign")) {
            sign(args);
        } else {
            read(args);
        }
    }

    static X509Certificate cert(String path) throws Exception {
        try (InputStream in = new FileInputStream(path)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }

    static void sign(String[] args) throws Exception {
        X509Certificate cert = cert(args[1]);
        PrivateKey key;
        try (PEMParser pem = new PEMParser(new FileReader(args[2]))) {
            key = new JcaPEMKeyConverter().setProvider("BC")
                    .getPrivateKey((PrivateKeyInfo) pem.readObject());
        }
        String out = args[3];
        MimeMultipart related = new MimeMultipart("related");
        String rootType = null;
        for (int i = 4; i < args.length; i++) {
            String[] spec = args[i].split(":");
            byte[] data = Files.readAllBytes(Paths.get(spec[0]));
            if (rootType == null) {
                rootType = spec[1];
            }
            MimeBodyPart part = new MimeBodyPart();
            part.setDataHandler(new DataHandler(new ByteArrayDataSource(data, spec[1])));
            part.setHeader("Content-Type", spec[1]);
            part.setHeader("Content-Transfer-Encoding",
                    spec.length > 3 && spec[3].equals("base64") ? "base64" : "binary");
            part.setHeader("Content-Disposition", "attachment; "
                    + new javax.mail.internet.ParameterList() {{ set("filename", spec[2], "UTF-8"); }}
                            .toString().substring(2));
            related.addBodyPart(part);
        }
        ContentType relatedType = new ContentType(related.getContentType());
        relatedType.setParameter("type", rootType);
        MimeBodyPart entity = new MimeBodyPart();
        entity.setContent(related, relatedType.toString());
        entity.setHeader("Content-Type", relatedType.toString());
        entity.setHeader("Content-Transfer-Encoding", "binary");

        SMIMESignedGenerator gen = new SMIMESignedGenerator();
        gen.setContentTransferEncoding("binary");
        gen.addSignerInfoGenerator(new JcaSimpleSignerInfoGeneratorBuilder()
                .setProvider("BC").build("SHA256withRSA", key, cert));
        gen.addCertificates(new JcaCertStore(Collections.singletonList(cert)));
        MimeMultipart signed = gen.generate(entity);
        Session session = Session.getDefaultInstance(new Properties());
        javax.mail.internet.MimeMessage message = new javax.mail.internet.MimeMessage(session);
        message.setContent(signed, signed.getContentType());
        message.saveChanges();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        signed.writeTo(body);
        String contentType = MimeUtility.unfold(signed.getContentType()).replaceAll("\\s+", " ");
        Files.write(Paths.get(out, "headers"), ("Content-Type: " + contentType + "\r\n\r\n").getBytes("US-ASCII"));
        Files.write(Paths.get(out, "body"), body.toByteArray());
        System.out.println("written: " + out);
    }

    static void read(String[] args) throws Exception {
        String contentType = new String(Files.readAllBytes(Paths.get(args[1])), "US-ASCII").trim();
        byte[] body = Files.readAllBytes(Paths.get(args[2]));
        X509Certificate cert = cert(args[3]);
        MimeMultipart multipart = new MimeMultipart(new ByteArrayDataSource(body, contentType));
        SMIMESigned signed = new SMIMESigned(multipart);
        boolean verified = false;
        for (Object o : signed.getSignerInfos().getSigners()) {
            SignerInformation signer = (SignerInformation) o;
            verified = signer.verify(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(cert));
        }
        System.out.println("verified: " + verified);
        MimeBodyPart entity = signed.getContent();
        ContentType type = new ContentType(entity.getContentType());
        System.out.println("entity-type: " + type.getBaseType());
        System.out.println("type-param: " + type.getParameter("type"));
        MimeMultipart related = new MimeMultipart(
                new ByteArrayDataSource(entity.getRawInputStream(), entity.getContentType()));
        System.out.println("parts: " + related.getCount());
        for (int i = 0; i < related.getCount(); i++) {
            MimeBodyPart part = (MimeBodyPart) related.getBodyPart(i);
            byte[] data = part.getInputStream().readAllBytes();
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            StringBuilder hex = new StringBuilder();
            for (byte b : sha.digest(data)) {
                hex.append(String.format("%02x", b));
            }
            System.out.println("part." + i + ".type: " + new ContentType(part.getContentType()).getBaseType());
            System.out.println("part." + i + ".name: " + MimeUtility.decodeText(String.valueOf(part.getFileName())));
            System.out.println("part." + i + ".size: " + data.length);
            System.out.println("part." + i + ".sha256: " + hex);
        }
    }
}
