// AES-GCM and AES-CCM content encryption with BouncyCastle, for tests/interop_bouncycastle.rs.
//
//   java AuthEnveloped encrypt <auth|env> <gcm128|gcm256|ccm128|ccm256> <cert.pem> <in> <out.der>
//   java AuthEnveloped decrypt <cert.pem> <key.pem> <in.der> <out>
//
// `encrypt auth` writes AuthEnvelopedData (RFC 5083) with CMSAuthEnvelopedDataGenerator;
// `encrypt env` writes plain EnvelopedData with CMSEnvelopedDataGenerator and an AEAD content
// cipher (the tag appended to the ciphertext), the form BouncyCastle produces when a product
// passes an AES-GCM algorithm to its EnvelopedData generator. `decrypt` reads either content
// type (CMSAuthEnvelopedData or CMSEnvelopedData) and prints `type: ...` and `length: ...`.

import java.io.ByteArrayInputStream;
import java.io.FileReader;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.PrivateKey;
import java.security.Security;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;

import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.cms.ContentInfo;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cms.CMSAlgorithm;
import org.bouncycastle.cms.CMSAuthEnvelopedData;
import org.bouncycastle.cms.CMSAuthEnvelopedDataGenerator;
import org.bouncycastle.cms.CMSEnvelopedData;
import org.bouncycastle.cms.CMSEnvelopedDataGenerator;
import org.bouncycastle.cms.CMSProcessableByteArray;
import org.bouncycastle.cms.RecipientInformation;
import org.bouncycastle.cms.jcajce.JceCMSContentEncryptorBuilder;
import org.bouncycastle.cms.jcajce.JceKeyTransAuthEnvelopedRecipient;
import org.bouncycastle.cms.jcajce.JceKeyTransEnvelopedRecipient;
import org.bouncycastle.cms.jcajce.JceKeyTransRecipientInfoGenerator;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.operator.OutputAEADEncryptor;

public class AuthEnveloped {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        switch (args[0]) {
            case "encrypt":
                encrypt(args[1], args[2], args[3], args[4], args[5]);
                break;
            case "decrypt":
                decrypt(args[1], args[2], args[3], args[4]);
                break;
            default:
                throw new IllegalArgumentException("encrypt or decrypt");
        }
    }

    static ASN1ObjectIdentifier algorithm(String name) {
        switch (name) {
            case "gcm128": return CMSAlgorithm.AES128_GCM;
            case "gcm256": return CMSAlgorithm.AES256_GCM;
            case "ccm128": return CMSAlgorithm.AES128_CCM;
            case "ccm256": return CMSAlgorithm.AES256_CCM;
            default: throw new IllegalArgumentException(name);
        }
    }

    static X509Certificate certificate(String path) throws Exception {
        try (java.io.InputStream in = Files.newInputStream(Paths.get(path))) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }

    static void encrypt(String form, String alg, String cert, String in, String out)
            throws Exception {
        byte[] content = Files.readAllBytes(Paths.get(in));
        JceKeyTransRecipientInfoGenerator recipient =
                new JceKeyTransRecipientInfoGenerator(certificate(cert)).setProvider("BC");
        ContentInfo info;
        if (form.equals("auth")) {
            CMSAuthEnvelopedDataGenerator gen = new CMSAuthEnvelopedDataGenerator();
            gen.addRecipientInfoGenerator(recipient);
            OutputAEADEncryptor encryptor = (OutputAEADEncryptor)
                    new JceCMSContentEncryptorBuilder(algorithm(alg)).setProvider("BC").build();
            info = gen.generate(new CMSProcessableByteArray(content), encryptor).toASN1Structure();
        } else {
            CMSEnvelopedDataGenerator gen = new CMSEnvelopedDataGenerator();
            gen.addRecipientInfoGenerator(recipient);
            info = gen.generate(new CMSProcessableByteArray(content),
                    new JceCMSContentEncryptorBuilder(algorithm(alg)).setProvider("BC").build())
                    .toASN1Structure();
        }
        Files.write(Paths.get(out), info.getEncoded("DER"));
    }

    static void decrypt(String cert, String keyPath, String in, String out) throws Exception {
        PrivateKey key;
        try (PEMParser pem = new PEMParser(new FileReader(keyPath))) {
            key = new JcaPEMKeyConverter().setProvider("BC")
                    .getPrivateKey((PrivateKeyInfo) pem.readObject());
        }
        byte[] der = Files.readAllBytes(Paths.get(in));
        ContentInfo info = ContentInfo.getInstance(der);
        byte[] content;
        if (info.getContentType().equals(
                org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers.id_ct_authEnvelopedData)) {
            CMSAuthEnvelopedData data = new CMSAuthEnvelopedData(der);
            RecipientInformation recipient =
                    (RecipientInformation) data.getRecipientInfos().getRecipients().iterator().next();
            content = recipient.getContent(
                    new JceKeyTransAuthEnvelopedRecipient(key).setProvider("BC"));
            System.out.println("type: authEnvelopedData");
        } else {
            CMSEnvelopedData data = new CMSEnvelopedData(der);
            RecipientInformation recipient =
                    (RecipientInformation) data.getRecipientInfos().getRecipients().iterator().next();
            content = recipient.getContent(new JceKeyTransEnvelopedRecipient(key).setProvider("BC"));
            System.out.println("type: envelopedData");
        }
        Files.write(Paths.get(out), content);
        System.out.println("length: " + content.length);
    }
}
