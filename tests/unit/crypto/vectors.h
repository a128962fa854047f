/* Test vectors shared by the crypto unit tests: the key vectors of libp2p/specs
 * peer-ids/peer-ids.md and go-libp2p's core/crypto/test_data fixtures (a
 * public key and its signature of GO_FIXTURE_MESSAGE for each type). */
#ifndef P2P_TEST_CRYPTO_VECTORS_H
#define P2P_TEST_CRYPTO_VECTORS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Decodes a hex string into a malloc'd buffer; aborts on bad input. */
static inline uint8_t *vec_hex(const char *hex, size_t *len)
{
	size_t n = strlen(hex) / 2;
	uint8_t *out = malloc(n ? n : 1);
	if (out == NULL || strlen(hex) % 2 != 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		char pair[3] = {hex[2 * i], hex[2 * i + 1], 0};
		char *end;
		v = (unsigned)strtoul(pair, &end, 16);
		if (*end != 0)
			abort();
		out[i] = (uint8_t)v;
	}
	*len = n;
	return out;
}

/* peer-ids spec: Ed25519 public key (PublicKey protobuf) */
#define SPEC_ED25519_PUB                                                                 \
	"080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e"

/* peer-ids spec: Ed25519 private key (PrivateKey, seed||public) */
#define SPEC_ED25519_PRIV                                                                \
	"080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d"       \
	"1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e"

/* peer-ids spec: secp256k1 public key */
#define SPEC_SECP256K1_PUB                                                               \
	"08021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca"       \
	"99"

/* peer-ids spec: secp256k1 private key */
#define SPEC_SECP256K1_PRIV                                                              \
	"0802122053dadf1d5a164d6b4acdb15e24aa4c5b1d3461bdbd42abedb0a4404d56ced8fb"

/* peer-ids spec: ECDSA (P-256) public key */
#define SPEC_ECDSA_PUB                                                                   \
	"0803125b3059301306072a8648ce3d020106082a8648ce3d03010703420004de3d300fa3"       \
	"6ae0e8f5d530899d83abab44abf3161f162a4bc901d8e6ecda020e8b6d5f8da30525e71d"       \
	"6851510c098e5c47c646a597fb4dcec034e9f77c409e62"

/* peer-ids spec: RSA-4096 public key */
#define SPEC_RSA_PUB                                                                     \
	"080012a60430820222300d06092a864886f70d01010105000382020f003082020a028202"       \
	"0100e1beab071d08200bde24eef00d049449b07770ff9910257b2d7d5dda242ce8f0e2f1"       \
	"2e1af4b32d9efd2c090f66b0f29986dbb645dae9880089704a94e5066d594162ae6ee889"       \
	"2e6ec70701db0a6c445c04778eb3de1293aa1a23c3825b85c6620a2bc3f82f9b0c309bc0"       \
	"ab3aeb1873282bebd3da03c33e76c21e9beb172fd44c9e43be32e2c99827033cf8d0f0c6"       \
	"06f4579326c930eb4e854395ad941256542c793902185153c474bed109d6ff5141ebf9cd"       \
	"256cf58893a37f83729f97e7cb435ec679d2e33901d27bb35aa0d7e20561da08885ef0ab"       \
	"bf8e2fb48d6a5487047a9ecb1ad41fa7ed84f6e3e8ecd5d98b3982d2a901b4454991766d"       \
	"a295ab78822add5612a2df83bcee814cf50973e80d7ef38111b1bd87da2ae92438a2c8cb"       \
	"cc70b31ee319939a3b9c761dbc13b5c086d6b64bf7ae7dacc14622375d92a8ff9af7eb96"       \
	"2162bbddebf90acb32adb5e4e4029f1c96019949ecfbfeffd7ac1e3fbcc6b6168c34be3d"       \
	"5a2e5999fcbb39bba7adbca78eab09b9bc39f7fa4b93411f4cc175e70c0a083e96bfaefb"       \
	"04a9580b4753c1738a6a760ae1afd851a1a4bdad231cf56e9284d832483df215a46c1c21"       \
	"bdf0c6cfe951c18f1ee4078c79c13d63edb6e14feaeffabc90ad317e4875fe648101b086"       \
	"4097e998f0ca3025ef9638cd2b0caecd3770ab54a1d9c6ca959b0f5dcbc90caeefc4135b"       \
	"aca6fd475224269bbe1b0203010001"

/* Peer IDs of the spec keys above, as other implementations derive them. */
#define SPEC_ED25519_PEERID "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"
#define SPEC_ED25519_CID                                                                 \
	"bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6"
#define SPEC_SECP256K1_PEERID "16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY"
#define SPEC_SECP256K1_CID                                                               \
	"bafzaajiiaijcca3xo7uzjzcsyilaj6i54cj44qk7kqzpoao5rti2pjx6udtdbp6kte"
#define SPEC_ECDSA_PEERID "QmVMT29id3TUASyfZZ6k9hmNyc2nYabCo4uMSpDw4zrgDk"
#define SPEC_ECDSA_CID    "bafzbeidigywdclqvl5hxfefwp5onbffcfife7pza57mmfb4tiqmtkdjw64"
#define SPEC_RSA_PEERID   "QmaeANgBs1DTSxWSrPPtobgQuxW8XTfsS4ydbK4rCHzqxG"
#define SPEC_RSA_CID      "bafzbeifwzcumbiyql7bhv7fe7mixg6i7aohegq75k234m63bnw6dbicmzu"

#define GO_FIXTURE_MESSAGE "Libp2p is the _best_!"

/* go-libp2p core/crypto/test_data/0.pub */
#define GO_RSA_PUB                                                                       \
	"080012a60230820122300d06092a864886f70d01010105000382010f003082010a028201"       \
	"0100f2b75b418c28ed7aabfe17e90dfb93c13f2ec6381d072f862fb75808b96d227eef20"       \
	"83d31f4a78069f85ad6a8c73896ea385a386430d1cc09a90a230f00911515c5538c4b62d"       \
	"897fc665df1150456aec75cdb2310c88f2079c82f56a79375c79e4f840f0eb15213f1972"       \
	"d6a248d684453ce5d3e3ec091f38c2f95c3ab5a1dfb603a9f955ebd9a75814ec5b725bb8"       \
	"882b047dbbae000ad88a5236596ad800c4ccfae3c74d69f8c665741d47972213dd4fdc83"       \
	"d39bab7ccce49f65e2dee7c76cd79c3500aafe7207ad41d843d89ac11e6653b872dfb2c5"       \
	"d790ec4eb6d954aa6e14a55463659edf0a2513c0aad9b8349f259a9b605b3d71dec43b69"       \
	"ee6be851a7530203010001"

/* go-libp2p core/crypto/test_data/0.sig */
#define GO_RSA_SIG                                                                       \
	"6e111325f710ad394633cfd37e467e18c5137fb63d182c9b8ea34386727c833160dc010d"       \
	"ee126ee2baf33515ff598730fbc3d3816ec5dbc626f8b17208432620f7915fbe1b6e5ace"       \
	"206d3fb98c3f93dab0e8c19f0c1592ed2c8a354bccd3c0d6de54747dc5e4fc234b87f7f4"       \
	"e0a63c7b6512ca3ca6a5a588e8639ee1820f2150fdb4bb00215e50b3227f4d1d21be8ea1"       \
	"e8c80eb3192749ad8cd5dc9bd2b3184015a06b8d6ffb6e0726aaa4aa7d3e7102c69a07f7"       \
	"340332bad47fdcfee22ba25c28233344436aba3e92c0276dcce8f2e56c44b66857591ce8"       \
	"15d87db6e87b2b74b94812a95e85b6eeab706434d8b0687fa717594cd6a5a82024a15d1a"       \
	"0aedebfe"

/* go-libp2p core/crypto/test_data/2.pub */
#define GO_SECP256K1_PUB                                                                 \
	"08021221023540ad842af8a43551a94d8383a555a99226506b88f953d2e70316a3a1b3d6"       \
	"a2"

/* go-libp2p core/crypto/test_data/2.sig */
#define GO_SECP256K1_SIG                                                                 \
	"3044022031a7d633c2f3e45a16128d43751afaa8dc9ba24092c5f5b3cad2c8fe4cf388f2"       \
	"022049ea8d219f458683d24775d543ea8fb290704347fb35493c403bc2c259b29d9e"

/* go-libp2p core/crypto/test_data/3.pub */
#define GO_ECDSA_PUB                                                                     \
	"0803125b3059301306072a8648ce3d020106082a8648ce3d03010703420004e29a8674f3"       \
	"614e0ccb72406bfe2137e9f8c5f7d62d137f0a2edd233e35374777fd1f9aed4d2cfa7371"       \
	"caafc6ef02db83b81f77cfe1bcd8c715acf0b9a2778ea9"

/* go-libp2p core/crypto/test_data/3.sig */
#define GO_ECDSA_SIG                                                                     \
	"3046022100846a6685b9e72b560cb2fc4a75f9cbc38a90aaeaa7f3f25ee719832db7b93a"       \
	"65022100cd992bb7bd2bcc28c7db04987d10adc490fe348270954f7696cb0dffff0dfc3d"

/* go-libp2p core/peer/peer_test.go: an RSA-2048 private key (PrivateKey
 * protobuf, base64) whose peer ID is GO_RSA_MAN_PEERID. */
#define GO_RSA_MAN_PRIV_B64                                                              \
	"CAASqAkwggSkAgEAAoIBAQC3hjPtPli71gFNzGJ6rUhYdb65BDwW7IrniEaZKi6z"               \
	"tW4Iz0MouEJY8GPG1iQfqZKp5w9H2ENh4I1bk2dsezrJ7Nneg4Eqd78CmeHTAgaP"               \
	"3PKsxohdMo/TOFNxwl8SkEF8FyVbio2TCoijYNHUuprZuq7MPEAJYr3Z1eEkM/xR"               \
	"pMp3YI9S2SYsZQxbmmQ0/GfHOEvYajdow1qttreVTQkvmCppKtNLEU5InpX/W5fe"               \
	"aQCj0pd7l74daZgM2WWz3juEUCVG7tdRUPg7ix1TYosbN96CKC3q2MJxe/wJ9gR5"               \
	"Jvjnaaaoon+mci5vrKzxdKBDmZ/ZbLiHDfVljMkbdOQLAgMBAAECggEAEULaF3JJ"               \
	"vkD+lmamzIsHxuosKhKv5CgTWHuEyFsjUVu7IbD8zBOoidzyRX1WoHO+i6Rj14oL"               \
	"rGUGZpqSm61rdhqE01zjBS+GE6SNjN8f5uANIxr5MGrVBDTEBGsXrhNLVXSH2vhJ"               \
	"II9ZEqTEl5GFhvz7+9Ge5EMZQCfRqSoKjVMdrs+Rueuusr9p0wNg9PH1myA+cXGt"               \
	"iNZA17Rj2IiWVZLDgYNo4DVQUt4mFb+wTJW4NSspGKaFebpn0hf4z21laoGoJqTC"               \
	"cNETJw+QwQ0uDaRoYotTLT2/55e8XBFTdcTg5cmbZoKgMyGqZEHfRyD9reVDAZlM"               \
	"EZwKtrm41kz94QKBgQDmPp5zVtFXQNONmje1NE0IjCaUKcqURXk4ZiILztfT9XLC"               \
	"OXAUCs3TCq21jirCkZZ6gLfo12Wx0xJYmsKlaUOGNTa8FI5Xa7OyheYKixUvV6FW"               \
	"J95P/sNuWscTjh7oZHgZk/L3yKrNzNBz7awComwV6qciXW7EP1uACHf5fS/RdQKB"               \
	"gQDMDa38W9OeegRDrhCeYGsniJK7btOCzhNooruQKPPXxk+O4dyJm7VBbC/3Ch55"               \
	"a83W66T4k0Q7ysLVRT5Vqd5z3AM0sEM3ZoxUKCinG3NwPxVeXcoLasyEiq1vOFK6"               \
	"GqZKCMThCj7ZpbkWy0DPJagnYfZGC62lammuj+XQx7mvfwKBgQCTKhka/bXmgD/3"               \
	"9UeAIcLPIM2TzDZ4mQNHIjjGtVnMV8kXDaFung06xEuNjSYVoPq+qEFkqTCN/axv"               \
	"R9P76BFJ2f93LehhRizggacsvAM5dFhh+i+lj+AYTBuMiz2EKpt9NcyJxhAuZKgk"               \
	"QRi9wlU1mPtlArVG6HwylLcil3qV9QKBgQDJHtaU/KEY+2TGnIMuxxP2lEsjyLla"               \
	"nOlOYc8C6Qpma8UwrHelfj5p7Eteb6/Xt6Tbp8kjZGuFj3T3plcpMdPbWEgkn3Kw"               \
	"4TeBH0/qXUkrolHagBDLrglEvjbxf48ydV/fasM6l9GYzhofWFhZk+EoaArHwWz2"               \
	"tGrTrmsynBjt2wKBgErdYe+zZ2Wo+wXQGAoZi4pfcwiw4a97Kdh0dx+WZz7acHms"               \
	"h+V20VRmEHm5h8WnJ/Wv5uK94t6NY17wzjQ7y2BN5mY5cA2cZAcpeqtv/N06tH4S"               \
	"cn1UEuRB8VpwkjaPUNZhqtYK40qff2OTdJy8taFtQiN7fz9euWTC78zjph2s"
#define GO_RSA_MAN_PEERID "QmcJeseojbPW9hSejUM1sQ1a2QmbrryPK4Z8pWbRUPaYEn"

#endif
